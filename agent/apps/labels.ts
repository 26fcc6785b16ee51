// How the agent finds an application's containers on the host: by a project label carrying the app id. podman-compose
// puts compose's own label on every container of a project (-p <id>); quadlet and container apps get flightctl's
// quadlet label, which the agent writes into each [Container] section it installs. The status monitor and removal
// both select by these labels, so an app's containers are found whatever their names.
export const COMPOSE_PROJECT_LABEL = "com.docker.compose.project";
export const QUADLET_PROJECT_LABEL = "io.flightctl.quadlet.project";

/** The label key that marks the containers of an app of type `type`. */
export const projectLabel = (type: string): string => (type === "compose" ? COMPOSE_PROJECT_LABEL : QUADLET_PROJECT_LABEL);

/** A `podman ps`/`podman events` filter for the containers of app `id` of type `type`. */
export const projectFilter = (type: string, id: string): string => `label=${projectLabel(type)}=${id}`;

// The compose files of an app and what the agent needs from them. flightctl layers one base file, then one standard
// override file, then its own agent override, each the first of its list that exists (internal/agent/client/compose.go);
// compose.yaml/.yml (the compose specification's own names) are accepted as bases after flightctl's four. A file that
// does not parse, no services, a service without an image or with a fixed container_name (flightctl refuses it: two
// projects would fight over the name), or a bind of a host path the agent keeps for itself (its identity, state and
// configuration) or one climbing out with "..", are errors naming the file and service.
import { parseDocument } from "yaml";
import { checkDevicePath, type PathError } from "../host.js";

export const BASE_FILES = [
  "docker-compose.yaml",
  "docker-compose.yml",
  "podman-compose.yaml",
  "podman-compose.yml",
  "compose.yaml",
  "compose.yml",
];
export const OVERRIDE_FILES = [
  "docker-compose.override.yaml",
  "docker-compose.override.yml",
  "podman-compose.override.yaml",
  "podman-compose.override.yml",
];
export const AGENT_OVERRIDE_FILE = "99-compose-flightctl-agent.override.yaml";

/** The files compose is given, in layering order, among `names`; empty when there is no base file. */
export function composeFiles(names: Iterable<string>): string[] {
  const have = new Set(names);
  const base = BASE_FILES.find((f) => have.has(f));
  if (!base) return [];
  const override = OVERRIDE_FILES.find((f) => have.has(f));
  return [base, ...(override ? [override] : []), ...(have.has(AGENT_OVERRIDE_FILE) ? [AGENT_OVERRIDE_FILE] : [])];
}

/** A compose project's services (name → image) after layering, or the reason it is not usable. */
export type ComposeParse = { services: Map<string, string> } | { error: string };

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses the layered files (`read` answers a file's content) into services and their images. */
export function parseCompose(files: string[], read: (name: string) => Buffer | string | undefined): ComposeParse {
  if (files.length === 0) return { error: `no compose file: expected one of ${BASE_FILES.join(", ")}` };
  const services = new Map<string, Record<string, unknown>>();
  for (const file of files) {
    const doc = parseDocument(String(read(file) ?? ""), { uniqueKeys: false });
    if (doc.errors.length > 0) return { error: `${file} does not parse: ${doc.errors[0].message.split("\n")[0]}` };
    const top = doc.toJS() as unknown;
    if (top === null || top === undefined) continue;
    if (!isMap(top)) return { error: `${file} is not a compose file (a mapping with "services")` };
    if (top.services === undefined || top.services === null) continue;
    if (!isMap(top.services)) return { error: `${file}: services must be a mapping of service names` };
    for (const [name, svc] of Object.entries(top.services)) {
      if (!isMap(svc)) return { error: `${file}: service ${name} must be a mapping` };
      services.set(name, { ...(services.get(name) ?? {}), ...svc });
    }
  }
  if (services.size === 0) return { error: "the compose spec has no services" };
  const images = new Map<string, string>();
  for (const [name, svc] of services) {
    if (svc.container_name !== undefined) return { error: `service ${name} has a container_name, which is not supported` };
    if (typeof svc.image !== "string" || !svc.image) return { error: `service ${name} has no image` };
    const bad = badBind(svc.volumes);
    if (bad) return { error: `service ${name}: volume ${bad}` };
    images.set(name, svc.image);
  }
  return { services: images };
}

/** The first host bind among a service's volumes that an application may not have (why), if any. */
function badBind(volumes: unknown): string | undefined {
  if (!Array.isArray(volumes)) return undefined;
  for (const v of volumes) {
    // Short syntax "source:target[:mode]"; long syntax { type: bind, source }. Named volumes are not host paths.
    const source = typeof v === "string" ? (v.includes(":") ? v.split(":")[0] : undefined) : isMap(v) ? v.source : undefined;
    if (typeof source !== "string" || !(source.startsWith("/") || source.startsWith(".") || source.startsWith("~"))) continue;
    if (source.startsWith("~")) return `${source}: a home directory path cannot be bound`;
    try {
      checkDevicePath(source.startsWith("/") ? source : `/${source}`);
    } catch (e) {
      return `${source}: ${(e as PathError).message}`;
    }
  }
  return undefined;
}

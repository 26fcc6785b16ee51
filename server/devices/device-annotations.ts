// Service-managed device annotations shared by the fleet controller and the renderer (flightctl's names).

/** The fleet template version the device's spec was written from. */
export const ANNOTATION_TEMPLATE_VERSION = "fleet-controller/templateVersion";
/** The template version of the device's current rendered spec (set with the render, so it never runs ahead of it). */
export const ANNOTATION_RENDERED_TEMPLATE_VERSION = "fleet-controller/renderedTemplateVersion";
/** "<templateVersion>/<batch>": the rollout batch that selected the device. */
export const ANNOTATION_SELECTED_FOR_ROLLOUT = "fleet-controller/selectedForRollout";

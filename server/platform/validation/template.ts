// Fleet templates at write time: every placeholder must parse as the supported subset of Go text/template (the same
// engine that fills them in per device, platform/template/template-params.ts), so an invalid template is refused
// with its field before it can become a template version.
import { hasPlaceholders, parseTemplate, TemplateError } from "../template/template-params.js";

/** Problems of the template expressions in `text`, or undefined when it has none or all are allowed. */
export function templateProblem(text: string): string | undefined {
  if (!hasPlaceholders(text)) return undefined;
  try {
    // Executing against a device without labels also catches errors only found at run time (e.g. bad arguments).
    parseTemplate(text).execute({ name: "dummy", labels: {} });
    return undefined;
  } catch (e) {
    if (e instanceof TemplateError) return e.message;
    throw e;
  }
}

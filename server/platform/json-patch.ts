// RFC 6902 JSON Patch with flightctl's limits: main resources may only touch /metadata/labels and /spec,
// status subresources only /status. Applied by fast-json-patch to a copy; all or nothing.
import jsonpatch from "fast-json-patch";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { invalid, type FieldViolation } from "./errors.js";

/** One operation as it arrives from the API. */
export interface PatchOp {
  op: string;
  path: string;
  value?: JsonValue;
  from?: string;
}

const allowedOps = new Set(["add", "replace", "remove", "test"]);

const under = (path: string, root: string) => path === root || path.startsWith(`${root}/`);

/**
 * Applies `ops` to a deep copy of `doc`. `roots` are the JSON Pointers the patch may touch, e.g.
 * ["/metadata/labels", "/spec"]. Returns the patched copy; throws InvalidArgument naming patch[i] on any problem.
 */
export function applyJsonPatch(doc: JsonObject, ops: PatchOp[], roots: string[]): JsonObject {
  const problems: FieldViolation[] = [];
  if (ops.length === 0) problems.push({ field: "patch", message: "must contain at least one operation" });
  ops.forEach((op, i) => {
    if (!allowedOps.has(op.op)) {
      problems.push({ field: `patch[${i}].op`, message: `"${op.op}" is not supported; use add, replace, remove or test` });
    } else if (!roots.some((r) => under(op.path, r))) {
      problems.push({ field: `patch[${i}].path`, message: `"${op.path}" may not be patched; allowed: ${roots.join(", ")}` });
    } else if (op.op !== "remove" && op.value === undefined) {
      problems.push({ field: `patch[${i}].value`, message: `is required for "${op.op}"` });
    }
  });
  if (problems.length > 0) throw invalid(problems);
  try {
    const operations = ops.map((o) => ({ op: o.op, path: o.path, value: o.value })) as jsonpatch.Operation[];
    return jsonpatch.applyPatch(structuredClone(doc), operations, true, false).newDocument as JsonObject;
  } catch (e) {
    const err = e as { index?: number; name?: string; message?: string };
    const at = err.index !== undefined ? `patch[${err.index}]` : "patch";
    const reason =
      err.name === "TEST_OPERATION_FAILED"
        ? "test operation failed"
        : err.name === "OPERATION_PATH_UNRESOLVABLE"
          ? "path does not exist"
          : (err.message ?? "cannot be applied").split("\n")[0];
    throw invalid({ field: at, message: reason });
  }
}

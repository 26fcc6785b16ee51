// flightctl's Status body and the HTTP status of each Connect code, as flightctl's REST API answers them.
import { Code } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";

/** flightctl's Status object (core v1beta1 `Status`). */
export interface FlightctlStatus {
  apiVersion: "v1beta1";
  kind: "Status";
  code: number;
  message: string;
  reason: string;
  status: "Success" | "Failure";
}

// HTTP status and Kubernetes-style reason per Connect code. FailedPrecondition and Aborted are flightctl's 409
// (a device not rendered yet, a resourceVersion or ownership conflict); AlreadyExists is 409 too.
const byCode: Record<Code, [number, string]> = {
  [Code.Canceled]: [499, "Canceled"],
  [Code.Unknown]: [500, "InternalError"],
  [Code.InvalidArgument]: [400, "BadRequest"],
  [Code.DeadlineExceeded]: [504, "Timeout"],
  [Code.NotFound]: [404, "NotFound"],
  [Code.AlreadyExists]: [409, "AlreadyExists"],
  [Code.PermissionDenied]: [403, "Forbidden"],
  [Code.ResourceExhausted]: [429, "TooManyRequests"],
  [Code.FailedPrecondition]: [409, "Conflict"],
  [Code.Aborted]: [409, "Conflict"],
  [Code.OutOfRange]: [400, "BadRequest"],
  [Code.Unimplemented]: [501, "NotImplemented"],
  [Code.Internal]: [500, "InternalError"],
  [Code.Unavailable]: [503, "ServiceUnavailable"],
  [Code.DataLoss]: [500, "InternalError"],
  [Code.Unauthenticated]: [401, "Unauthorized"],
};

/** The HTTP status and Status body of a failed call. */
export function failure(code: Code, message: string): { status: number; body: FlightctlStatus } {
  const [status, reason] = byCode[code] ?? [500, "InternalError"];
  return { status, body: { apiVersion: "v1beta1", kind: "Status", code: status, message, reason, status: "Failure" } };
}

/** A failure the transcoder itself answers (406, 405, 415, 404 with no route), with its own HTTP status. */
export function httpFailure(status: number, reason: string, message: string): FlightctlStatus {
  return { apiVersion: "v1beta1", kind: "Status", code: status, message, reason, status: "Failure" };
}

/** The Status of a call that succeeded with nothing to return (a delete). */
export const success = (): FlightctlStatus => ({
  apiVersion: "v1beta1",
  kind: "Status",
  code: 200,
  message: "",
  reason: "",
  status: "Success",
});

/** The Code of a Connect error body's "code" ("not_found" → Code.NotFound); Unknown for anything else. */
export function codeFromName(name: unknown): Code {
  return (typeof name === "string" && codeFromString(name)) || Code.Unknown;
}

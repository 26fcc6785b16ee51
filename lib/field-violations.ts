// Field violations on the wire: the server attaches a DomainError's violations to its Connect error as a
// google.rpc.BadRequest detail, and clients (the CLI, the web UI) read them back from there, never from the message.
import type { ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../gen/third_party/google/rpc/error_details_pb.js";
import type { FieldViolation } from "./errors.js";

/** The BadRequest detail carrying `violations`, one field violation each (for ConnectError's outgoing details). */
export function badRequestDetail(violations: FieldViolation[]) {
  return {
    desc: BadRequestSchema,
    value: { fieldViolations: violations.map((v) => ({ field: v.field, description: v.message })) },
  };
}

/** The field violations an API error carries in its BadRequest details; none when it has no such detail. */
export function fieldViolations(err: ConnectError): FieldViolation[] {
  return err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => ({ field: v.field, message: v.description })));
}

// Maps the standard resource RPCs of one kind (Get/List/Create/Replace/Patch/Delete and the status subresource)
// onto its service. Nothing else: no rules here, no database.
import { toJson, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import type { PatchRequestOperation } from "../../../gen/flightctl/v1beta1/meta_pb.js";
import type { ListOptions } from "../../../gen/flightctl/v1beta1/list_pb.js";
import { invalid } from "../errors.js";
import { callerOf } from "../identity.js";
import type { PatchOp } from "../json-patch.js";
import type { ListOptionsInput, ResourceService } from "./resource-service.js";

export function patchOps(ops: PatchRequestOperation[]): PatchOp[] {
  return ops.map((o) => ({
    op: o.op,
    path: o.path,
    ...(o.value ? { value: toJson(ValueSchema, o.value) } : {}),
    ...(o.from !== undefined ? { from: o.from } : {}),
  }));
}

export function listOptions(o: ListOptions | undefined): ListOptionsInput {
  return { labelSelector: o?.labelSelector, fieldSelector: o?.fieldSelector, limit: o?.limit, continueToken: o?.continueToken };
}

const lowerFirst = (s: string) => s[0].toLowerCase() + s.slice(1);

/** "Repository" → "Repositories", "Device" → "Devices". */
export const plural = (kind: string) => (kind.endsWith("y") ? `${kind.slice(0, -1)}ies` : `${kind}s`);

interface ResourceRequest {
  name: string;
  orgId: string;
  patch: PatchRequestOperation[];
  options?: ListOptions;
  [resource: string]: unknown;
}

/**
 * Builds the handlers for the standard RPCs of `service` (named Get<Kind>, List<Kinds>, ..., Patch<Kind>Status).
 * Handlers whose RPC the service does not declare are left out, so kinds without a status subresource work too.
 */
export function resourceHandlers<Desc extends DescMessage>(
  service: DescService,
  kind: string,
  svc: ResourceService<Desc>,
): Record<string, (req: never, ctx: HandlerContext) => Promise<unknown>> {
  type Msg = MessageShape<Desc>;
  const field = lowerFirst(kind);
  const body = (req: ResourceRequest): Msg => {
    const r = req[field] as Msg | undefined;
    if (!r) throw invalid({ field, message: "is required" });
    return r;
  };
  const caller = (_req: ResourceRequest, ctx: HandlerContext) => callerOf(ctx);
  const all: Record<string, (req: ResourceRequest, ctx: HandlerContext) => Promise<unknown>> = {
    [`get${kind}`]: async (req, ctx) => svc.get(caller(req, ctx), req.name),
    [`list${plural(kind)}`]: async (req, ctx) => svc.list(caller(req, ctx), listOptions(req.options)),
    [`create${kind}`]: async (req, ctx) => svc.create(caller(req, ctx), body(req)),
    [`replace${kind}`]: async (req, ctx) => {
      const { resource, created } = await svc.replace(caller(req, ctx), req.name, body(req));
      // Mirrors flightctl's 201-vs-200 for clients that care.
      ctx.responseHeader.set("flightctl-created", String(created));
      return resource;
    },
    [`patch${kind}`]: async (req, ctx) => svc.patch(caller(req, ctx), req.name, patchOps(req.patch)),
    [`delete${kind}`]: async (req, ctx) => {
      await svc.delete(caller(req, ctx), req.name);
      return {};
    },
    [`get${kind}Status`]: async (req, ctx) => svc.get(caller(req, ctx), req.name),
    [`replace${kind}Status`]: async (req, ctx) => svc.replaceStatus(caller(req, ctx), req.name, body(req)),
    [`patch${kind}Status`]: async (req, ctx) => svc.patchStatus(caller(req, ctx), req.name, patchOps(req.patch)),
  };
  const declared = new Set(service.methods.map((m) => m.localName));
  return Object.fromEntries(Object.entries(all).filter(([name]) => declared.has(name))) as never;
}

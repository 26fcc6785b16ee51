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
import type { ResourceDesc } from "./resource-json.js";

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
export const plural = <K extends string>(kind: K) => (kind.endsWith("y") ? `${kind.slice(0, -1)}ies` : `${kind}s`) as Plural<K>;

/** The type of `plural`: how the RPC names of the list and watch methods spell a kind. */
export type Plural<K extends string> = K extends `${infer Stem}y` ? `${Stem}ies` : `${K}s`;

type Unary<Req, Res> = (req: Req, ctx: HandlerContext) => Promise<Res>;
interface NameRequest {
  name: string;
}
interface PatchRequest {
  name: string;
  patch: PatchRequestOperation[];
}
interface ListRequest {
  options?: ListOptions;
}
/** The resource travels in the field named after the kind (CreateDeviceRequest.device). */
type BodyRequest<K extends string, Desc extends ResourceDesc> = { [F in Uncapitalize<K>]?: MessageShape<Desc> };

/**
 * The standard RPCs of kind `K` as the generated services name them (GetDevice, ListDevices, ..., PatchDeviceStatus),
 * with the request fields the handlers read: a kind's `ServiceImpl` accepts them only if its RPCs match.
 */
export type ResourceHandlers<K extends string, Desc extends ResourceDesc, List extends DescMessage> = {
  [N in `get${K}` | `get${K}Status`]: Unary<NameRequest, MessageShape<Desc>>;
} & {
  [N in `list${Plural<K>}`]: Unary<ListRequest, MessageShape<List>>;
} & {
  [N in `create${K}`]: Unary<BodyRequest<K, Desc>, MessageShape<Desc>>;
} & {
  [N in `replace${K}` | `replace${K}Status`]: Unary<NameRequest & BodyRequest<K, Desc>, MessageShape<Desc>>;
} & {
  [N in `patch${K}` | `patch${K}Status`]: Unary<PatchRequest, MessageShape<Desc>>;
} & {
  [N in `delete${K}`]: Unary<NameRequest, Record<string, never>>;
};

/** Any standard request, as the handlers below read it. */
type ResourceRequest = NameRequest & PatchRequest & ListRequest & Record<string, unknown>;

/**
 * Builds the handlers for the standard RPCs of `service` (named Get<Kind>, List<Kinds>, ..., Patch<Kind>Status).
 * Handlers whose RPC the service does not declare are left out, so kinds without a status subresource work too.
 */
export function resourceHandlers<K extends string, Desc extends ResourceDesc, List extends DescMessage>(
  service: DescService,
  kind: K,
  svc: ResourceService<Desc, List>,
): Partial<ResourceHandlers<K, Desc, List>> {
  type Msg = MessageShape<Desc>;
  const field = lowerFirst(kind);
  const body = (req: ResourceRequest): Msg => {
    const r = req[field] as Msg | undefined;
    if (!r) throw invalid({ field, message: "is required" });
    return r;
  };
  const all: Record<string, Unary<ResourceRequest, unknown>> = {
    [`get${kind}`]: async (req, ctx) => svc.get(callerOf(ctx), req.name),
    [`list${plural(kind)}`]: async (req, ctx) => svc.list(callerOf(ctx), listOptions(req.options)),
    [`create${kind}`]: async (req, ctx) => svc.create(callerOf(ctx), body(req)),
    [`replace${kind}`]: async (req, ctx) => {
      const { resource, created } = await svc.replace(callerOf(ctx), req.name, body(req));
      // Mirrors flightctl's 201-vs-200 for clients that care.
      ctx.responseHeader.set("flightctl-created", String(created));
      return resource;
    },
    [`patch${kind}`]: async (req, ctx) => svc.patch(callerOf(ctx), req.name, patchOps(req.patch)),
    [`delete${kind}`]: async (req, ctx) => {
      await svc.delete(callerOf(ctx), req.name);
      return {};
    },
    [`get${kind}Status`]: async (req, ctx) => svc.get(callerOf(ctx), req.name),
    [`replace${kind}Status`]: async (req, ctx) => svc.replaceStatus(callerOf(ctx), req.name, body(req)),
    [`patch${kind}Status`]: async (req, ctx) => svc.patchStatus(callerOf(ctx), req.name, patchOps(req.patch)),
  };
  const declared = new Set(service.methods.map((m) => m.localName));
  const served = Object.fromEntries(Object.entries(all).filter(([name]) => declared.has(name)));
  // The one unchecked step: names computed from `kind` at run time are the names ResourceHandlers<K> spells out.
  return served as Partial<ResourceHandlers<K, Desc, List>>;
}

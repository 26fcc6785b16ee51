// Generic calls on any kind through its generated client: Get/List/Replace/Patch/Delete<Kind> follow one naming
// scheme in the contract, so one helper serves every kind.
import { fromJson, toJson, type JsonObject, type JsonValue, type Message } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { ResourceError, UsageError } from "./errors.js";
import type { KindDef } from "./kinds.js";
import type { Session } from "./transport.js";

type AnyCall = (req: object, opts?: object) => Promise<Message>;

export interface Api {
  kind: KindDef;
  get(name: string, extra?: object): Promise<JsonObject>;
  /** One page; `fleet` for template versions. */
  list(req: ListRequest): Promise<{ items: JsonObject[]; next?: string; remaining?: number; raw: JsonObject }>;
  replace(name: string, doc: Message): Promise<JsonObject>;
  patch(name: string, ops: object[]): Promise<JsonObject>;
  remove(name: string): Promise<void>;
  /** The typed generated client, for kind-specific methods. */
  client: Record<string, AnyCall>;
}

export interface ListRequest {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continueToken?: string;
  fleet?: string;
  extra?: object;
}

export async function api(s: Session, kind: KindDef, fleet?: string): Promise<Api> {
  const { service, schema } = await kind.load();
  const client = createClient(service, s.transport) as unknown as Record<string, AnyCall>;
  if (kind.fleetScoped && !fleet) throw new UsageError(`${kind.names[1]} belong to a fleet: add --fleetname <fleet>`);
  const scope = { ...(kind.kind === "Organization" ? {} : { orgId: s.org }), ...(kind.fleetScoped ? { fleet } : {}) };
  const target = (name: string) => `${kind.kind.toLowerCase()}/${name}`;
  const json = (m: Message) => toJson(schema, m as never) as JsonObject;
  const wrap = async <T>(name: string, f: () => Promise<T>) => {
    try {
      return await f();
    } catch (e) {
      throw new ResourceError(target(name), e);
    }
  };
  return {
    kind,
    client,
    get: (name, extra) => wrap(name, async () => json(await client[`get${kind.kind}`]({ name, ...scope, ...extra }))),
    async list(r) {
      const res = (await client[`list${kind.plural}`]({
        ...scope,
        ...r.extra,
        options: {
          labelSelector: r.labelSelector ?? "",
          fieldSelector: r.fieldSelector ?? "",
          limit: r.limit ?? 0,
          continueToken: r.continueToken ?? "",
        },
      })) as Message & { items: Message[]; metadata?: { continueToken?: string; remainingItemCount?: number } };
      return {
        items: res.items.map(json),
        next: res.metadata?.continueToken || undefined,
        remaining: res.metadata?.remainingItemCount,
        raw: res as unknown as JsonObject,
      };
    },
    replace: (name, doc) => wrap(name, async () => json(await client[`replace${kind.kind}`]({ name, [kind.field]: doc, ...scope }))),
    patch: (name, ops) =>
      wrap(name, async () => {
        // Operation values are google.protobuf.Value messages: convert the plain JSON.
        const patch = (ops as { value?: JsonValue }[]).map((op) => ({
          ...op,
          value: op.value === undefined ? undefined : fromJson(ValueSchema, op.value),
        }));
        return json(await client[`patch${kind.kind}`]({ name, patch, ...scope }));
      }),
    remove: (name) => wrap(name, async () => void (await client[`delete${kind.kind}`]({ name, ...scope }))),
  };
}

/** A method that may be missing from an older generated client: a clear error instead of "not a function". */
export function requireMethod(a: Api, method: string): AnyCall {
  const f = a.client[method];
  if (typeof f !== "function")
    throw new UsageError(`this flightctl build has no ${a.kind.kind}Service.${method[0].toUpperCase()}${method.slice(1)}; update it`);
  return f;
}

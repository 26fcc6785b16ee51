// A resource kind as the app registers it: contract (service + schemas), table, and kind-specific rules.
// Generic handlers come from resource-rpc.ts; kinds add or override handlers for their own RPCs.
import type { DescMessage, DescService, JsonObject } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import type { CertificateAuthority } from "../../certificates/signers.js";
import type { Caller } from "../identity.js";
import { fieldsByKind } from "../selectors/fields.js";
import { createResourceService, type ResourceKindConfig, type ResourceService } from "./resource-service.js";
import { createResourceStore, type Db, type ResourceState, type ResourceStore } from "./resource-store.js";
import { resourceHandlers } from "./resource-rpc.js";
import { watchHandlers, type Watch } from "../watch/watch-rpc.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler takes its own request type
export type Handler = (req: any, ctx: HandlerContext) => Promise<unknown>;

/** What kinds may need beyond their own store: the CA, settings, and the services of kinds registered earlier. */
export interface KindDeps {
  ca: CertificateAuthority;
  /** Whether enrollment-signer CSRs from users are approved at once (flightctl: yes). */
  csrAutoApprove: boolean;
  /** Agent endpoint URL handed to agents in enrollment config. */
  agentEndpointUrl(): string;
  /** UI URL agents print for approval. */
  uiUrl: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- services of different kinds
  services: Map<string, ResourceService<any>>;
  db: Db;
  /** Watch streams (Watch<Kinds>); absent: those RPCs are not served. */
  watch?: Watch;
}

export interface KindDefinition<Desc extends DescMessage = DescMessage>
  extends Omit<ResourceKindConfig<Desc>, "store" | "fields" | "beforeCreate"> {
  service: DescService;
  table: string;
  parentColumn?: string;
  /** As ResourceKindConfig.beforeCreate, with the app's dependencies. */
  beforeCreate?(
    caller: Caller,
    obj: JsonObject,
    deps: KindDeps,
  ): Promise<Partial<Pick<ResourceState, "status" | "owner" | "annotations">> | void>;
  /** Handlers for kind-specific RPCs, or overrides of generic ones. */
  handlers?(parts: { svc: ResourceService<Desc>; store: ResourceStore; db: Db; deps: KindDeps }): Record<string, Handler>;
}

/** Builds store and service for a kind (no RPC handlers): used by registerKind and by non-RPC callers. */
export function buildKind<Desc extends DescMessage>(def: KindDefinition<Desc>, deps: KindDeps) {
  const store = createResourceStore(deps.db, { kind: def.kind, table: def.table, parentColumn: def.parentColumn });
  const fields = fieldsByKind[def.kind];
  if (!fields) throw new Error(`no field selectors defined for kind ${def.kind}`);
  const beforeCreate = def.beforeCreate && ((caller: Caller, obj: JsonObject) => def.beforeCreate!(caller, obj, deps));
  const svc = createResourceService({ ...def, store, fields, beforeCreate });
  deps.services.set(def.kind, svc);
  return { store, svc };
}

/**
 * The service of a kind on `db`, which may be a transaction: for controllers that write several resources of a kind
 * atomically through the same rules (and inTx hooks) as the API. Not for kinds whose rules need KindDeps.
 */
export function kindServiceOn<Desc extends DescMessage>(
  def: KindDefinition<Desc>,
  db: Db,
  sourceComponent?: string,
): ResourceService<Desc> {
  if (def.beforeCreate) throw new Error(`kind ${def.kind} needs the app's dependencies; build it with buildKind`);
  const store = createResourceStore(db, { kind: def.kind, table: def.table, parentColumn: def.parentColumn });
  return createResourceService({
    ...def,
    store,
    fields: fieldsByKind[def.kind],
    beforeCreate: undefined,
    ...(sourceComponent ? { sourceComponent } : {}),
  });
}

/** Builds store, service and handlers for a kind and registers them on the router. */
export function registerKind<Desc extends DescMessage>(router: ConnectRouter, def: KindDefinition<Desc>, deps: KindDeps) {
  const { store, svc } = buildKind(def, deps);
  const handlers = {
    ...resourceHandlers(def.service, def.kind, svc),
    ...watchHandlers(def.service, { kind: def.kind, table: def.table, svc }, deps.watch),
    ...def.handlers?.({ svc, store, db: deps.db, deps }),
  };
  router.service(def.service, handlers as never);
  return { store, svc };
}

// A resource kind as the app registers it: contract (service + schemas), table, and kind-specific rules.
// Generic handlers come from resource-rpc.ts and watch-rpc.ts; each kind returns its service's implementation from
// them plus its own RPCs, and the compiler checks it against the generated service.
import type { DescMessage, DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { Caller } from "../identity.js";
import { fieldsByKind } from "../selectors/fields.js";
import {
  createResourceService,
  type KindState,
  type KindStore,
  type ResourceKindConfig,
  type ResourceService,
} from "./resource-service.js";
import { createResourceStore, type Db, type Executor, type ResourceTable } from "./resource-store.js";
import type { KindJson, ResourceDesc, SpecJson, StatusJson } from "./resource-json.js";
import { resourceHandlers, type Plural, type ResourceHandlers } from "./resource-rpc.js";
import { watchHandlers, type Watch } from "../watch/watch-rpc.js";
import type { WatchRequest } from "../watch/watch-stream.js";

/** What the generic machinery itself needs from the app; kinds may need more (their `Deps`). */
export interface KindPlatformDeps {
  db: Db;
  /** Watch streams (Watch<Kinds>); absent: those RPCs are not served. */
  watch?: Watch;
}

/** Watch<Kinds>, when the kind's service declares it and the app serves watches. */
export type WatchHandlers<K extends string> = {
  [N in `watch${Plural<K>}`]?: (req: WatchRequest, ctx: HandlerContext) => AsyncIterable<never>;
};

/** The handlers every kind gets for free: the standard resource RPCs and Watch<Kinds> its service declares. */
export type StandardHandlers<K extends string, Desc extends ResourceDesc, List extends DescMessage> = Partial<
  ResourceHandlers<K, Desc, List>
> &
  WatchHandlers<K>;

/** What a kind's `handlers` gets to build its implementation from. */
export interface KindParts<K extends string, Desc extends ResourceDesc, List extends DescMessage, Svc extends DescService, Deps> {
  /** The generic handlers of the RPCs the service declares: spread them, then add or override. */
  standard: Pick<StandardHandlers<K, Desc, List>, keyof StandardHandlers<K, Desc, List> & keyof Svc["method"]>;
  svc: ResourceService<Desc, List>;
  store: KindStore<Desc>;
  db: Db;
  deps: Deps;
}

/**
 * A kind: `K` its name, `Desc`/`List` its message and list message, `Svc` its generated service, `Deps` what its
 * rules need beyond the platform (e.g. the CA). Write it with defineKind so the compiler infers them all.
 */
export interface KindDefinition<
  K extends string,
  Desc extends ResourceDesc,
  List extends DescMessage,
  Svc extends DescService,
  Deps = unknown,
> extends Omit<ResourceKindConfig<Desc, List>, "kind" | "store" | "fields" | "beforeCreate"> {
  kind: K;
  service: Svc;
  /** The kind's table in db/schema/resources.ts. */
  table: ResourceTable;
  /** As ResourceKindConfig.beforeCreate, with the kind's dependencies. */
  beforeCreate?(
    caller: Caller,
    obj: KindJson<Desc>,
    deps: Deps,
  ): Promise<Partial<Pick<KindState<Desc>, "status" | "owner" | "annotations">> | undefined>;
  /** The implementation of the kind's service: usually `standard` plus the kind's own RPCs and overrides. */
  handlers(parts: KindParts<K, Desc, List, Svc, Deps>): Partial<ServiceImpl<NoInfer<Svc>>>;
}

/** Any kind definition, as lists of kinds see it: names, services, schemas and tables (the rules are the kind's). */
export type AnyKindDefinition = Pick<
  KindDefinition<string, ResourceDesc, DescMessage, DescService>,
  "kind" | "service" | "schema" | "listSchema" | "table"
>;

/** Checks a kind definition, inferring its type parameters from its fields. */
export function defineKind<K extends string, Desc extends ResourceDesc, List extends DescMessage, Svc extends DescService, Deps = unknown>(
  def: KindDefinition<K, Desc, List, Svc, Deps>,
): KindDefinition<K, Desc, List, Svc, Deps> {
  return def;
}

/** A kind built for one app: its store and service, and `serve` to register its handlers on a router. */
export interface BuiltKind<Desc extends ResourceDesc, List extends DescMessage> {
  store: KindStore<Desc>;
  svc: ResourceService<Desc, List>;
  /** Registers the kind's service implementation on `router`. */
  serve(router: ConnectRouter): void;
}

/** Builds store and service of a kind, and how to serve it; the app does this once per kind. */
export function buildKind<K extends string, Desc extends ResourceDesc, List extends DescMessage, Svc extends DescService, Deps>(
  def: KindDefinition<K, Desc, List, Svc, Deps>,
  deps: Deps & KindPlatformDeps,
): BuiltKind<Desc, List> {
  const store = kindStore(def, deps.db);
  const fields = fieldsByKind[def.kind];
  if (!fields) throw new Error(`no field selectors defined for kind ${def.kind}`);
  const beforeCreate = def.beforeCreate && ((caller: Caller, obj: KindJson<Desc>) => def.beforeCreate!(caller, obj, deps));
  const svc = createResourceService({ ...def, store, fields, beforeCreate });
  return {
    store,
    svc,
    serve(router) {
      // Unchecked like resourceHandlers: watch-rpc names the handler `watch${plural(kind)}`, as WatchHandlers<K> does.
      const watch = watchHandlers(def.service, { kind: def.kind, table: def.table, svc }, deps.watch) as WatchHandlers<K>;
      const standard = { ...resourceHandlers(def.service, def.kind, svc), ...watch };
      const impl = def.handlers({ standard, svc, store, db: deps.db, deps });
      // The compiler checks the types of the handlers, not that each names an RPC: a misspelt override would never be served.
      const declared = new Set(def.service.methods.map((m) => m.localName));
      const unknown = Object.keys(impl).filter((name) => !declared.has(name));
      if (unknown.length > 0) throw new Error(`kind ${def.kind}: ${def.service.typeName} has no RPC ${unknown.join(", ")}`);
      router.service(def.service, impl);
    },
  };
}

/** The store of a kind on `db` (the database or a transaction), its records typed with the kind's JSON types. */
export function kindStore<Desc extends ResourceDesc>(
  def: { kind: string; schema: Desc; table: ResourceTable },
  db: Executor,
): KindStore<Desc> {
  return createResourceStore<SpecJson<Desc>, StatusJson<Desc>>(db, { kind: def.kind, table: def.table });
}

/**
 * The service of a kind on `db`, which may be a transaction: for controllers that write several resources of a kind
 * atomically through the same rules (and inTx hooks) as the API. Not for kinds whose rules need dependencies.
 */
export function kindServiceOn<K extends string, Desc extends ResourceDesc, List extends DescMessage, Svc extends DescService>(
  def: KindDefinition<K, Desc, List, Svc>,
  db: Executor,
  sourceComponent?: string,
): ResourceService<Desc, List> {
  if (def.beforeCreate) throw new Error(`kind ${def.kind} needs the app's dependencies; build it with buildKind`);
  const store = kindStore(def, db);
  return createResourceService({
    ...def,
    store,
    fields: fieldsByKind[def.kind],
    beforeCreate: undefined,
    ...(sourceComponent ? { sourceComponent } : {}),
  });
}

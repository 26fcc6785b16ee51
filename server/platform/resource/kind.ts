// A resource kind as the app registers it: contract (service + schemas), table, and kind-specific rules.
// Generic handlers come from resource-rpc.ts; kinds add or override handlers for their own RPCs.
import type { DescMessage, DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { fieldsByKind } from "../selectors/fields.js";
import { createResourceService, type ResourceKindConfig, type ResourceService } from "./resource-service.js";
import { createResourceStore, type Db, type ResourceStore } from "./resource-store.js";
import { resourceHandlers, type OrgResolver } from "./resource-rpc.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler takes its own request type
export type Handler = (req: any, ctx: HandlerContext) => Promise<unknown>;

export interface KindDefinition<Desc extends DescMessage = DescMessage>
  extends Omit<ResourceKindConfig<Desc>, "store" | "fields"> {
  service: DescService;
  table: string;
  parentColumn?: string;
  /** Handlers for kind-specific RPCs, or overrides of generic ones. */
  handlers?(parts: { svc: ResourceService<Desc>; store: ResourceStore; orgs: OrgResolver; db: Db }): Record<string, Handler>;
}

/** Builds store, service and handlers for a kind and registers them on the router. */
export function registerKind<Desc extends DescMessage>(router: ConnectRouter, def: KindDefinition<Desc>, db: Db, orgs: OrgResolver) {
  const store = createResourceStore(db, { kind: def.kind, table: def.table, parentColumn: def.parentColumn });
  const fields = fieldsByKind[def.kind];
  if (!fields) throw new Error(`no field selectors defined for kind ${def.kind}`);
  const svc = createResourceService({ ...def, store, fields });
  const handlers = { ...resourceHandlers(def.service, def.kind, svc, orgs), ...def.handlers?.({ svc, store, orgs, db }) };
  router.service(def.service, handlers as never);
  return { store, svc };
}

// The rules every resource kind shares, flightctl-style: create, create-or-replace, JSON Patch limited to labels and
// spec, status subresource, owner protection, optimistic concurrency, generation bump on spec change, and an Event
// for each mutation. Kind modules configure it (schema, store, validation, selectors) and add their own rules.
import { isDeepStrictEqual } from "node:util";
import { create, fromJson, type DescMessage, type JsonObject, type MessageShape } from "@bufbuild/protobuf";
import { conflict, DomainError, invalid, notFound, precondition, type FieldViolation } from "../errors.js";
import type { Caller } from "../identity.js";
import { decodeJson } from "../codec.js";
import { badTimestampPath } from "../timestamp-range.js";
import type { ObjectMetaJson } from "../../../gen/flightctl/v1beta1/meta_pb.js";
import type { EventDetailsJson } from "../../../gen/flightctl/v1beta1/event_pb.js";
import { applyJsonPatch, type PatchOp } from "../json-patch.js";
import { decodeContinue, encodeContinue, pageSize } from "../pagination.js";
import { labelRequirementsToSql, parseLabelSelector } from "../selectors/label-selector.js";
import { fieldRequirementsToSql, parseFieldSelector } from "../selectors/field-selector.js";
import type { FieldTable } from "../selectors/fields.js";
import type { NewEvent } from "../event-store.js";
import { maskSecrets, restoreMaskedSecrets, type SecretPath } from "../sensitive.js";
import { Lru } from "../lru.js";
import { kindJson, type KindJson, type ResourceDesc, type ResourceJson, type SpecJson, type StatusJson } from "./resource-json.js";
import {
  concurrentWrite,
  type InTx,
  type ResourceKey,
  type ResourceRecord,
  type ResourceState,
  type ResourceStore,
} from "./resource-store.js";
import type { SQL } from "drizzle-orm";
import { quote } from "../../../lib/quote.js";

export const API_VERSION = "flightctl.io/v1beta1";
/** apiVersion spellings found in flightctl's own files; all mean v1beta1. */
const acceptedApiVersions = new Set(["", "v1beta1", "flightctl.io/v1beta1", "api.flightctl.io/v1beta1"]);
const MAX_CAS_ATTEMPTS = 10;

export interface ListOptionsInput {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continueToken?: string;
}

/** A stored record of the kind described by `Desc`: spec and status typed with its generated JSON types. */
export type KindRecord<Desc extends DescMessage> = ResourceRecord<SpecJson<Desc>, StatusJson<Desc>>;

/** The mutable state of a record of the kind described by `Desc`. */
export type KindState<Desc extends DescMessage> = ResourceState<SpecJson<Desc>, StatusJson<Desc>>;

/** Extra statements in a write transaction of the kind described by `Desc`. */
export type KindInTx<Desc extends DescMessage> = InTx<SpecJson<Desc>, StatusJson<Desc>>;

/** The store of the kind described by `Desc`. */
export type KindStore<Desc extends DescMessage> = ResourceStore<SpecJson<Desc>, StatusJson<Desc>>;

export interface ResourceKindConfig<Desc extends ResourceDesc, List extends DescMessage = DescMessage> {
  /** Kind name, e.g. "Device". */
  kind: string;
  schema: Desc;
  listSchema: List;
  store: KindStore<Desc>;
  /** Field selectors this kind supports. */
  fields: FieldTable;
  /** Validates a user-written resource in flightctl JSON form (metadata + spec). */
  validate(obj: KindJson<Desc>): FieldViolation[];
  /** Component name written to events. */
  sourceComponent?: string;
  /** Initial status of a created resource (flightctl initializes some, e.g. devices). */
  initialStatus?(obj: KindJson<Desc>): StatusJson<Desc> | null;
  /**
   * Last rules before a create (may adjust the document): returns service-set parts of the new resource, e.g. the
   * status of a CSR signed at once or the owner of a device's CSR.
   */
  beforeCreate?(
    caller: Caller,
    obj: KindJson<Desc>,
  ): Promise<Partial<Pick<KindState<Desc>, "status" | "owner" | "annotations">> | undefined>;
  /** Extra refusals of a user write (replace/patch) given the stored resource (e.g. a decommissioning device). */
  checkUserWrite?(existing: KindRecord<Desc>): void;
  /** What to do instead of editing the spec of a resource owned by `owner` (named in the refusal). */
  ownedFix?(owner: string): string;
  /** Extra refusals before a delete (e.g. a fleet managed by a ResourceSync). */
  beforeDelete?(record: KindRecord<Desc>, caller: Caller): void | Promise<void>;
  /** Last touch on every document returned to users (e.g. dropping fields flightctl never returns). */
  present?(doc: KindJson<Desc>): KindJson<Desc>;
  /** Write-only secrets inside the document: masked in responses, kept when the mask is sent back. */
  secrets?: SecretPath[];
  /** How many decoded resources to keep (default 20,000). */
  cacheSize?: number;
  /** Extra statements in the write transaction (job enqueueing), per operation. */
  inTx?: { created?: KindInTx<Desc>; updated?: KindInTx<Desc>; deleted?: KindInTx<Desc> };
}

/** flightctl's updatedFields vocabulary, plus status and annotations for service-side writes. */
type UpdatedField = "labels" | "spec" | "owner" | "status" | "annotations";

/** Builds the generic service for one kind. */
export function createResourceService<Desc extends ResourceDesc, List extends DescMessage = DescMessage>(
  cfg: ResourceKindConfig<Desc, List>,
) {
  type Msg = MessageShape<Desc>;
  type Doc = KindJson<Desc>;
  type Record = KindRecord<Desc>;
  type State = KindState<Desc>;
  const { kind, store } = cfg;
  const source = cfg.sourceComponent ?? "flightctl-api";

  const secrets = cfg.secrets ?? [];
  const present = (doc: Doc): Doc => (cfg.present ? cfg.present(doc) : doc);
  // A Timestamp JSON cannot carry (before year 1, nanos out of range) reaches here from binary requests: bad input,
  // looked for only when the encoding fails.
  const docOf = (msg: Msg): Doc => {
    try {
      return kindJson(cfg.schema, msg);
    } catch (err) {
      const bad = badTimestampPath(cfg.schema, msg);
      if (bad) throw invalid({ field: bad, message: "must be a time from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z" });
      throw err;
    }
  };
  // Decoding stored JSON into messages is the main CPU cost of a list; a resourceVersion names one immutable state
  // of one resource (the sequence is global), so decoded messages are cached by it. Callers must not mutate them.
  const decoded = new Lru<string, Msg>(cfg.cacheSize ?? 20_000);
  const toMessage = (r: Record): Msg => {
    const key = r.parent === undefined ? r.resourceVersion : `${r.parent}/${r.resourceVersion}`;
    let msg = decoded.get(key);
    if (!msg) {
      msg = fromJson(cfg.schema, present(maskSecrets(recordToJson(kind, r), secrets)), { ignoreUnknownFields: true });
      decoded.set(key, msg);
    }
    return msg;
  };

  function event(caller: Caller, name: string, reason: string, message: string, details?: EventDetailsJson): NewEvent {
    return {
      reason,
      type: "Normal",
      message,
      actor: caller.identity.actor,
      involvedObject: { kind, name },
      sourceComponent: source,
      ...(details ? { details } : {}),
    };
  }

  /** The user's document in JSON form, with apiVersion/kind checked and service-managed metadata dropped. */
  function userObject(msg: Msg): Doc {
    const obj = docOf(msg);
    const problems: FieldViolation[] = [];
    const apiVersion = obj.apiVersion ?? "";
    if (!acceptedApiVersions.has(apiVersion))
      problems.push({ field: "apiVersion", message: `must be "${API_VERSION}", got ${quote(apiVersion)}` });
    const k = obj.kind ?? "";
    if (k !== "" && k !== kind) problems.push({ field: "kind", message: `must be "${kind}", got ${quote(k)}` });
    problems.push(...cfg.validate(obj));
    if (problems.length > 0) throw invalid(problems);
    return obj;
  }

  const labelsOf = (obj: Doc) => obj.metadata?.labels ?? {};

  /** Refuses a client resourceVersion that does not match the stored one (flightctl's optimistic concurrency). */
  function checkVersion(obj: Doc | undefined, existing: Record) {
    const rv = obj?.metadata?.resourceVersion;
    if (rv !== undefined && rv !== "" && rv !== existing.resourceVersion) {
      throw conflict("the object has been modified; please apply your changes to the latest version and try again");
    }
    return rv !== undefined && rv !== "";
  }

  /**
   * Read-modify-write with compare-and-swap. `mutate` returns the new state (or undefined for "no change");
   * a lost swap re-reads and retries, unless the client pinned a resourceVersion.
   */
  async function update(
    caller: Caller,
    key: ResourceKey,
    mutate: (existing: Record) => { state: State; pinned: boolean } | undefined,
    reason?: { reason: string; message: string },
    extraInTx?: KindInTx<Desc>,
  ): Promise<Record> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const existing = await store.get(key);
      if (!existing) throw notFound(kind, key.name);
      const next = mutate(existing);
      if (!next) return existing;
      const changed = changedFields(existing, next.state);
      if (changed.length === 0) return existing;
      const details: EventDetailsJson = { detailType: "ResourceUpdated", updatedFields: changed };
      if (changed.includes("owner")) {
        if (existing.owner) details.previousOwner = existing.owner;
        if (next.state.owner) details.newOwner = next.state.owner;
      }
      const ev = event(
        caller,
        key.name,
        reason?.reason ?? "ResourceUpdated",
        reason?.message ?? `${kind} was updated successfully.`,
        details,
      );
      const kindInTx = cfg.inTx?.updated;
      const afterWrite: KindInTx<Desc> | undefined =
        kindInTx || extraInTx
          ? async (tx, r, c) => {
              await kindInTx?.(tx, r, { ...c, changed });
              await extraInTx?.(tx, r, { ...c, changed });
            }
          : undefined;
      const written = await store.update(key, existing.resourceVersion, next.state, ev, afterWrite);
      if (written) return written;
      if (next.pinned) throw conflict("the object has been modified; please apply your changes to the latest version and try again");
    }
    throw concurrentWrite(kind, key.name);
  }

  /** New state for a user write of labels + spec onto an existing resource, with owner protection. */
  function userWrite(obj: Doc, existing: Record): { state: State; pinned: boolean } {
    cfg.checkUserWrite?.(existing);
    const pinned = checkVersion(obj, existing);
    restoreMaskedSecrets(obj, recordToJson(kind, existing), secrets);
    const spec = obj.spec ?? null;
    const specChanged = !isDeepStrictEqual(spec, existing.spec);
    if (specChanged && existing.owner) {
      const fix = cfg.ownedFix?.(existing.owner) ?? `change it through ${existing.owner}`;
      const message = `${kind} "${existing.name}" is owned by ${existing.owner}: its spec cannot be changed directly; ${fix}`;
      throw new DomainError("precondition", message, [{ field: "spec", message: `owned by ${existing.owner}; ${fix}` }]);
    }
    return {
      pinned,
      state: {
        labels: labelsOf(obj),
        annotations: existing.annotations,
        owner: existing.owner,
        spec,
        status: existing.status,
        generation: existing.generation + (specChanged ? 1 : 0),
      },
    };
  }

  async function createRecord(caller: Caller, key: ResourceKey, obj: Doc, owner?: string): Promise<Record> {
    const extra = (await cfg.beforeCreate?.(caller, obj)) ?? {};
    const state: State = {
      labels: labelsOf(obj),
      annotations: extra.annotations ?? {},
      owner: owner ?? extra.owner ?? null,
      generation: 1,
      spec: obj.spec ?? null,
      status: extra.status ?? cfg.initialStatus?.(obj) ?? null,
    };
    return store.create(key, state, event(caller, key.name, "ResourceCreated", `${kind} was created successfully.`), cfg.inTx?.created);
  }

  /** Deletes with its event; the kind's delete hook learns who deleted (e.g. for events about released resources). */
  function deleteRecord(caller: Caller, key: ResourceKey): Promise<Record | undefined> {
    const afterDelete = cfg.inTx?.deleted;
    return store.delete(
      key,
      () => event(caller, key.name, "ResourceDeleted", `${kind} was deleted successfully.`),
      afterDelete && ((tx, r, c) => afterDelete(tx, r, { ...c, actor: caller.identity.actor })),
    );
  }

  const nameOf = (obj: Doc) => obj.metadata?.name;

  function selectorWhere(opts: Pick<ListOptionsInput, "labelSelector" | "fieldSelector">): SQL[] {
    const where: SQL[] = [];
    if (opts.labelSelector) where.push(labelRequirementsToSql(parseLabelSelector(opts.labelSelector)));
    if (opts.fieldSelector) where.push(fieldRequirementsToSql(parseFieldSelector(opts.fieldSelector, cfg.fields)));
    return where;
  }

  /** One page of records; `continueToken` and `remaining` are set when more match after it. */
  async function listPage(
    caller: Caller,
    opts: ListOptionsInput,
    parent?: string,
  ): Promise<{ records: Record[]; continueToken?: string; remaining?: number }> {
    const limit = pageSize(opts.limit);
    const where = selectorWhere(opts);
    const from = decodeContinue(opts.continueToken);
    // Like flightctl: count the remaining items once, on the first page, and carry the count in the token.
    const page = await store.list(caller.orgId, { where, limit, after: from?.key, parent, remaining: from?.remaining });
    const last = page.records[page.records.length - 1];
    if (page.remaining === undefined || !last) return { records: page.records };
    return {
      records: page.records,
      continueToken: encodeContinue({ key: last.name, remaining: page.remaining }),
      remaining: page.remaining,
    };
  }

  return {
    kind,
    toMessage,

    async get(caller: Caller, name: string, parent?: string): Promise<Msg> {
      const r = await store.get({ orgId: caller.orgId, name, parent });
      if (!r) throw notFound(kind, name);
      return toMessage(r);
    },

    /** The SQL conditions of a list query's selectors (InvalidArgument naming the selector when malformed). */
    selectorWhere,

    /** Lists one page. */
    listPage,

    async list(caller: Caller, opts: ListOptionsInput, parent?: string): Promise<MessageShape<List>> {
      const page = await listPage(caller, opts, parent);
      // Every <Kind>List message has these four fields; a generic List cannot say so to the compiler.
      return create(cfg.listSchema, {
        apiVersion: API_VERSION,
        kind: `${kind}List`,
        metadata: page.continueToken !== undefined ? { continueToken: page.continueToken, remainingItemCount: page.remaining } : {},
        items: page.records.map(toMessage),
      } as never);
    },

    async create(caller: Caller, msg: Msg): Promise<Msg> {
      const obj = userObject(msg);
      // Validated: the name is set.
      return toMessage(await createRecord(caller, { orgId: caller.orgId, name: nameOf(obj) ?? "" }, obj));
    },

    /** Create-or-replace; `created` tells which happened (flightctl answers 201 vs 200). */
    async replace(caller: Caller, name: string, msg: Msg): Promise<{ resource: Msg; created: boolean }> {
      const obj = userObject(msg);
      if (nameOf(obj) !== name) {
        throw invalid({ field: "metadata.name", message: `must equal the name in the request ("${name}"), got ${quote(nameOf(obj))}` });
      }
      const key = { orgId: caller.orgId, name };
      for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
        try {
          return { resource: toMessage(await update(caller, key, (existing) => userWrite(obj, existing))), created: false };
        } catch (e) {
          if (!(e instanceof DomainError && e.kind === "notFound")) throw e;
        }
        try {
          return { resource: toMessage(await createRecord(caller, key, obj)), created: true };
        } catch (e) {
          // Created concurrently by someone else: replace it on the next round.
          if (!(e instanceof DomainError && e.kind === "alreadyExists")) throw e;
        }
      }
      throw concurrentWrite(kind, name);
    },

    async patch(caller: Caller, name: string, ops: PatchOp[]): Promise<Msg> {
      const key = { orgId: caller.orgId, name };
      const r = await update(caller, key, (existing) => {
        cfg.checkUserWrite?.(existing);
        // A patch target is any JSON (the patch may add what the kind's type lacks until decoded and validated).
        const doc: ResourceJson & { metadata: ObjectMetaJson } = recordToJson(kind, existing);
        // Present the patchable roots even when empty, so "add /metadata/labels/x" works on an unlabelled resource.
        doc.metadata.labels ??= {};
        // The version is the one just read, not the client's: a lost swap here is retried, not refused.
        delete doc.metadata.resourceVersion;
        doc.spec ??= {};
        const patched = applyJsonPatch(doc, ops, ["/metadata/labels", "/spec"]);
        const obj = userObject(decodeJson(cfg.schema, patched));
        // The empty spec presented above is no change of a resource that has none (a device a fleet owns before its
        // first render), so a label patch is not refused as a spec edit.
        if (existing.spec == null && isDeepStrictEqual(obj.spec ?? {}, {})) delete obj.spec;
        return userWrite(obj, existing);
      });
      return toMessage(r);
    },

    /** Checks a document as a user write would (apiVersion, kind, the kind's rules); throws InvalidArgument naming the field. */
    check(msg: Msg): void {
      userObject(msg);
    },

    /**
     * Create-or-replace by the controller that owns the resource (a ResourceSync applying git): a new resource gets
     * `owner`, and labels and spec may change only while the stored owner is `owner`. A resource with another owner,
     * or none (a user's), is refused with FailedPrecondition, never taken over. `changed` is false when nothing differed
     * (nothing written: no new generation, no event).
     */
    async applyOwned(caller: Caller, msg: Msg, owner: string): Promise<{ resource: Msg; created: boolean; changed: boolean }> {
      const obj = userObject(msg);
      const key = { orgId: caller.orgId, name: nameOf(obj) ?? "" };
      for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
        let before: string | undefined;
        try {
          const r = await update(caller, key, (existing) => {
            if (existing.owner !== owner)
              throw precondition(
                `${kind} "${key.name}" ${existing.owner ? `is owned by ${existing.owner}` : "has no owner (it was created directly)"}, not by ${owner}`,
              );
            before = existing.resourceVersion;
            const spec = obj.spec ?? null;
            const generation = existing.generation + (isDeepStrictEqual(spec, existing.spec) ? 0 : 1);
            return { pinned: false, state: { ...existing, labels: labelsOf(obj), spec, generation } };
          });
          return { resource: toMessage(r), created: false, changed: r.resourceVersion !== before };
        } catch (e) {
          if (!(e instanceof DomainError && e.kind === "notFound")) throw e;
        }
        try {
          return { resource: toMessage(await createRecord(caller, key, obj, owner)), created: true, changed: true };
        } catch (e) {
          if (!(e instanceof DomainError && e.kind === "alreadyExists")) throw e;
        }
      }
      throw concurrentWrite(kind, key.name);
    },

    /** Deletes a resource on behalf of its owner (skips the kind's delete refusals, which protect owned resources from users). */
    async deleteOwned(caller: Caller, name: string, owner: string): Promise<void> {
      const key = { orgId: caller.orgId, name };
      const existing = await store.get(key);
      if (!existing) return;
      if (existing.owner !== owner) throw precondition(`${kind} "${name}" is not owned by ${owner}`);
      await deleteRecord(caller, key);
    },

    async delete(caller: Caller, name: string, parent?: string): Promise<void> {
      const key = { orgId: caller.orgId, name, parent };
      const existing = await store.get(key);
      if (!existing) throw notFound(kind, name);
      await cfg.beforeDelete?.(existing, caller);
      if (!(await deleteRecord(caller, key))) throw notFound(kind, name);
    },

    /** Replaces only status; metadata and spec of the request are ignored. */
    async replaceStatus(caller: Caller, name: string, msg: Msg): Promise<Msg> {
      const obj = docOf(msg);
      if (nameOf(obj) !== undefined && nameOf(obj) !== name) {
        throw invalid({ field: "metadata.name", message: `must equal the name in the request ("${name}"), got ${quote(nameOf(obj))}` });
      }
      const status = obj.status ?? null;
      const r = await update(caller, { orgId: caller.orgId, name }, (existing) => ({
        pinned: checkVersion(obj, existing),
        state: { ...existing, status },
      }));
      return toMessage(r);
    },

    /**
     * A service-side status change (approval, signing): `next` returns the new status from the current record, or
     * undefined for no change; retried on a lost compare-and-swap. The event gets `reason` when given.
     */
    async writeStatus(
      caller: Caller,
      name: string,
      next: (current: Record) => StatusJson<Desc> | undefined,
      reason?: { reason: string; message: string },
    ): Promise<Msg> {
      const r = await update(
        caller,
        { orgId: caller.orgId, name },
        (existing) => {
          const status = next(existing);
          return status === undefined ? undefined : { pinned: false, state: { ...existing, status } };
        },
        reason,
      );
      return toMessage(r);
    },

    /**
     * A service-side write of any part (a custom verb such as decommission): `next` returns the new state from the
     * current record, or undefined for no change; retried on a lost compare-and-swap; generation is the caller's to
     * bump. `inTx` runs in the write's transaction after the kind's own hook.
     */
    async writeState(
      caller: Caller,
      name: string,
      next: (current: Record) => State | undefined,
      reason: { reason: string; message: string },
      inTx?: KindInTx<Desc>,
    ): Promise<Msg> {
      const r = await update(
        caller,
        { orgId: caller.orgId, name },
        (existing) => {
          const state = next(existing);
          return state === undefined ? undefined : { pinned: false, state };
        },
        reason,
        inTx,
      );
      return toMessage(r);
    },

    async patchStatus(caller: Caller, name: string, ops: PatchOp[]): Promise<Msg> {
      const r = await update(caller, { orgId: caller.orgId, name }, (existing) => {
        const patched = applyJsonPatch(recordToJson(kind, existing), ops, ["/status"]);
        const msg = decodeJson(cfg.schema, patched);
        const status = docOf(msg).status ?? null;
        return { pinned: false, state: { ...existing, status } };
      });
      return toMessage(r);
    },
  };
}

/** The service of one kind; `List` is its list message (only the typed RPC handlers need it). */
export type ResourceService<Desc extends ResourceDesc, List extends DescMessage = DescMessage> = ReturnType<
  typeof createResourceService<Desc, List>
>;

/** The fields a write changed, in flightctl's updatedFields vocabulary. */
function changedFields<Spec extends JsonObject, Status extends JsonObject>(
  before: ResourceRecord<Spec, Status>,
  after: ResourceState<Spec, Status>,
): UpdatedField[] {
  const out: UpdatedField[] = [];
  if (!isDeepStrictEqual(before.labels, after.labels)) out.push("labels");
  if (!isDeepStrictEqual(before.spec, after.spec)) out.push("spec");
  if (before.owner !== after.owner) out.push("owner");
  if (!isDeepStrictEqual(before.status, after.status)) out.push("status");
  if (!isDeepStrictEqual(before.annotations, after.annotations)) out.push("annotations");
  return out;
}

/** A stored record as the flightctl JSON document users see. */
export function recordToJson<Spec extends JsonObject, Status extends JsonObject>(
  kind: string,
  r: ResourceRecord<Spec, Status>,
): ResourceJson<Spec, Status> & { metadata: ObjectMetaJson } {
  const metadata: ObjectMetaJson = {
    name: r.name,
    generation: r.generation,
    resourceVersion: r.resourceVersion,
    creationTimestamp: r.createdAt.toISOString(),
  };
  if (Object.keys(r.labels).length > 0) metadata.labels = r.labels;
  if (Object.keys(r.annotations).length > 0) metadata.annotations = r.annotations;
  if (r.owner) metadata.owner = r.owner;
  if (r.deletionTimestamp) metadata.deletionTimestamp = r.deletionTimestamp.toISOString();
  const doc: ResourceJson<Spec, Status> & { metadata: ObjectMetaJson } = { apiVersion: API_VERSION, kind, metadata };
  if (r.spec) doc.spec = r.spec;
  if (r.status) doc.status = r.status;
  return doc;
}

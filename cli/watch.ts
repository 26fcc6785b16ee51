// Following a kind's Watch<Plural> stream (get --watch): each ADDED/MODIFIED/DELETED object is printed as it
// comes; SYNCED and BOOKMARK only move the resume point. A dropped stream is resumed from the last version, and
// relisted when the server says the version is too old.
import { toJson, type JsonObject, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { UsageError } from "./errors.js";
import type { KindDef } from "./kinds.js";
import { api } from "./resources.js";
import type { Session } from "./transport.js";

interface WatchEvent {
  type: string;
  object?: Message;
  resourceVersion: string;
}

export async function watch(
  s: Session,
  kind: KindDef,
  sel: { labelSelector?: string; fieldSelector?: string; names: string[]; listed?: JsonObject[] },
  print: (items: JsonObject[], type: string) => void | Promise<void>,
): Promise<void> {
  const a = await api(s, kind);
  const method = `watch${kind.plural}`;
  const open = a.client[method] as unknown as ((req: object, opts?: object) => AsyncIterable<WatchEvent>) | undefined;
  if (typeof open !== "function")
    throw new UsageError(`--watch is not available for ${kind.names[1]} (the service has no ${kind.kind}Service.Watch${kind.plural})`);
  const { schema } = await kind.load();
  const names = new Set(sel.names);
  let version = "";
  let synced = false;
  // name → resourceVersion already printed: the stream's initial ADDED objects repeat them unless they changed since.
  const seen = new Map(
    (sel.listed ?? []).map((o) => [String((o.metadata as JsonObject).name), String((o.metadata as JsonObject).resourceVersion)]),
  );
  for (;;) {
    try {
      const stream = open(
        { orgId: s.org, labelSelector: sel.labelSelector ?? "", fieldSelector: sel.fieldSelector ?? "", resourceVersion: version },
        { timeoutMs: 0 },
      );
      for await (const ev of stream) {
        if (ev.resourceVersion) version = ev.resourceVersion;
        if (ev.type === "SYNCED") synced = true;
        if (!ev.object) continue;
        const obj = toJson(schema, ev.object as never) as JsonObject;
        const m = (obj.metadata ?? {}) as JsonObject;
        if (names.size && !names.has(String(m.name))) continue;
        if (!synced && ev.type === "ADDED" && seen.get(String(m.name)) === String(m.resourceVersion)) continue;
        await print([obj], ev.type); // in order: one event printed before the next
      }
    } catch (e) {
      if (e instanceof ConnectError && e.code === Code.FailedPrecondition) {
        version = "";
        synced = false;
        continue;
      }
      if (e instanceof ConnectError && (e.code === Code.Unavailable || e.code === Code.Internal || e.code === Code.Unknown)) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      throw e;
    }
  }
}

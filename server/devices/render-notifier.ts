// Wakes this replica's rendered-device streams when any replica's render task commits a new version: one LISTEN
// connection per API process on Postgres's notification channel. After a lost connection every subscriber is told
// to re-read (notifications sent meanwhile are gone). Other modules share the connection through listen() (watch
// streams' change notifications), so a process holds one LISTEN connection whatever it listens to.
import pg from "pg";
import type { Logger } from "pino";
import { RENDERED_CHANNEL } from "./render-store.js";
import { listen } from "../platform/db.js";
import { keyedListeners } from "../platform/keyed-listeners.js";

/** Called with the new version, or with undefined when the subscriber must re-read (missed notifications). */
export type RenderListener = (version: number | undefined) => void;

export interface RenderNotifier {
  subscribe(orgId: string, name: string, listener: RenderListener): () => void;
  /** Number of devices with at least one subscriber. */
  readonly size: number;
  /** Listens on another channel of the same connection; onReconnect: notifications may have been lost. */
  listen(channel: string, onPayload: (payload: string) => void, onReconnect: () => void): () => void;
  close(): Promise<void>;
}

export async function startRenderNotifier(connectionString: string, log: Logger): Promise<RenderNotifier> {
  const listeners = keyedListeners<RenderListener>();
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const others = new Map<string, Set<{ onPayload: (payload: string) => void; onReconnect: () => void }>>();

  const dispatch = (key: string, version: number | undefined) => {
    listeners.each(key, (l) => l(version));
  };

  async function connect(): Promise<void> {
    // keepAlive: a connection cut without a FIN (a host gone, a NAT forgetting it) is noticed and re-established.
    const c = new pg.Client({ connectionString, keepAlive: true });
    c.on("notification", (n) => {
      if (n.channel !== RENDERED_CHANNEL) {
        for (const l of others.get(n.channel) ?? []) l.onPayload(n.payload ?? "");
        return;
      }
      if (!n.payload) return;
      const i = n.payload.lastIndexOf("/");
      dispatch(n.payload.slice(0, i), Number(n.payload.slice(i + 1)));
    });
    c.on("error", (err) => {
      log.warn({ err }, "render notification connection lost; reconnecting");
      c.end().catch(() => {});
      if (client === c) client = undefined;
      schedule();
    });
    await c.connect();
    await listen(c, RENDERED_CHANNEL);
    for (const channel of others.keys()) await listen(c, channel);
    client = c;
  }

  function schedule() {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      connect().then(
        () => {
          // Whatever was rendered while we were deaf: let every stream re-read.
          for (const key of listeners.keys()) dispatch(key, undefined);
          for (const set of others.values()) for (const l of set) l.onReconnect();
        },
        (err) => {
          log.warn({ err }, "cannot reconnect render notifications");
          schedule();
        },
      );
    }, 1000);
  }

  await connect();
  return {
    subscribe(orgId, name, listener) {
      return listeners.add(`${orgId}/${name}`, listener);
    },
    get size() {
      return listeners.size;
    },
    listen(channel, onPayload, onReconnect) {
      if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`bad channel name ${channel}`);
      let set = others.get(channel);
      if (!set) {
        others.set(channel, (set = new Set()));
        if (client) listen(client, channel).catch((err) => log.warn({ err, channel }, "cannot listen"));
      }
      const entry = { onPayload, onReconnect };
      set.add(entry);
      return () => {
        set!.delete(entry);
      };
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => {});
    },
  };
}

// Watch<Kinds> handlers: map the request to a watch stream and its messages to the response; nothing else.
import type { DescService } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
import { callerOf } from "../identity.js";
import type { Db } from "../resource/resource-store.js";
import { plural } from "../resource/resource-rpc.js";
import { createWatchHub, type Listen, type WatchHub, type WatchSource } from "./watch-hub.js";
import { createWatchStore, type ResourceChange, type WatchStore } from "./watch-store.js";
import {
  eventSource,
  resourceSource,
  watchEvents,
  watchResources,
  type WatchableKind,
  type WatchRequest,
  type WatchStreamOptions,
} from "./watch-stream.js";

/** The process's watch machinery, shared by every kind's Watch handler. */
export interface Watch {
  hub: WatchHub;
  store: WatchStore;
  options: WatchStreamOptions;
  /** Ends every open watch stream (server shutdown). */
  drain(): void;
  /** Registers a stream's abort, so drain() can end it. */
  track(ctx: HandlerContext): AbortSignal;
  sources: Map<string, WatchSource<ResourceChange>>;
}

export function createWatch(opts: { db: Db; log: Logger; listen?: Listen } & WatchStreamOptions): Watch {
  const store = createWatchStore(opts.db);
  const hub = createWatchHub({ store, log: opts.log, listen: opts.listen });
  const open = new Set<AbortController>();
  return {
    hub,
    store,
    options: { bookmarkMs: opts.bookmarkMs, maxQueued: opts.maxQueued },
    sources: new Map(),
    drain() {
      for (const c of open) c.abort();
    },
    track(ctx) {
      const c = new AbortController();
      open.add(c);
      const end = () => {
        c.abort();
        open.delete(c);
      };
      if (ctx.signal.aborted) end();
      else ctx.signal.addEventListener("abort", end, { once: true });
      c.signal.addEventListener("abort", () => open.delete(c), { once: true });
      return c.signal;
    },
  };
}

/** The Watch<Kinds> handler of a resource kind, when its service declares one. */
export function watchHandlers(service: DescService, k: WatchableKind, watch: Watch | undefined) {
  const name = `watch${plural(k.kind)}`;
  if (!watch || !service.methods.some((m) => m.localName === name)) return {};
  let source = watch.sources.get(k.kind);
  if (!source) watch.sources.set(k.kind, (source = resourceSource(watch.store, k.kind, k.table)));
  const src = source;
  return {
    // The stream's messages are the response's init shape; the generated type per kind is not nameable here.
    [name]: (req: WatchRequest, ctx: HandlerContext): AsyncIterable<never> =>
      watchResources(
        { hub: watch.hub, store: watch.store, source: src, k },
        callerOf(ctx),
        req,
        watch.track(ctx),
        watch.options,
      ) as AsyncIterable<never>,
  };
}

/** The WatchEvents handler. */
export function watchEventsHandler(watch: Watch) {
  const source = eventSource(watch.store);
  return (req: WatchRequest, ctx: HandlerContext): AsyncIterable<never> =>
    watchEvents(
      { hub: watch.hub, store: watch.store, source },
      callerOf(ctx),
      req,
      watch.track(ctx),
      watch.options,
    ) as AsyncIterable<never>;
}

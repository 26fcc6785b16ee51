// Installs the one error mapper (errors.ts) on every RPC, unary and streaming alike.
import type { Interceptor, StreamResponse } from "@connectrpc/connect";
import { toConnectError } from "./errors.js";

export function errorInterceptor(logInternal: (err: unknown, procedure: string) => void): Interceptor {
  return (next) => async (req) => {
    // A call its client (or a server drain) cancelled ends with whatever the abort threw: that is no internal error.
    const log = (err: unknown) => (req.signal.aborted ? undefined : logInternal(err, req.url));
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const inner = res.message;
      const message = (async function* () {
        try {
          yield* inner;
        } catch (e) {
          throw toConnectError(e, log);
        }
      })();
      return { ...res, message } as StreamResponse;
    } catch (e) {
      throw toConnectError(e, log);
    }
  };
}

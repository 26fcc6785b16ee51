// Installs the one error mapper (errors.ts) on every RPC, unary and streaming alike.
import type { Interceptor, StreamResponse } from "@connectrpc/connect";
import { toConnectError } from "./errors.js";

export function errorInterceptor(logInternal: (err: unknown, procedure: string) => void): Interceptor {
  return (next) => async (req) => {
    const log = (err: unknown) => logInternal(err, req.url);
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

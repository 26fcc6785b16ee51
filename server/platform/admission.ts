// Admission control for the agent endpoint: at most `concurrency` unary calls run at once and at most `queue` wait;
// beyond that a call is refused at once with ResourceExhausted and a RetryInfo delay (agents retry with backoff), which keeps the server's
// memory bounded. The queue is sized for every device of a large fleet reporting at once (a fleet-wide change): a
// refused report is sent again in full, and at 10,000 devices a 2,000-call queue made the API and the agents spend
// twice the CPU per update on refusals and re-sends (no-policy rollout 90-104 s; with room for all: 53 s). A waiting
// report holds a few KB.
import type { Interceptor } from "@connectrpc/connect";
import { rateLimited, toConnectError } from "./errors.js";

/** The retry delay a refused call is told (RetryInfo): a full queue drains in about this long at fleet scale. */
const RETRY_AFTER_MS = 1000;

export function admissionInterceptor(concurrency = 64, queue = 20_000): Interceptor {
  let running = 0;
  const waiting: (() => void)[] = [];
  return (next) => async (req) => {
    // Streams are long-lived and cheap while idle; only unary work is gated.
    if (req.stream) return next(req);
    if (running >= concurrency) {
      if (waiting.length >= queue) throw toConnectError(rateLimited("the server is busy; retry later", RETRY_AFTER_MS));
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running++;
    }
    try {
      return await next(req);
    } finally {
      // Hand the slot to the next waiter, if any, without releasing it in between.
      const wake = waiting.shift();
      if (wake) wake();
      else running--;
    }
  };
}

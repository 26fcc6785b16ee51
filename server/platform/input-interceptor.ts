// The boundary check of every request message (validation/input-limits.ts), installed once per endpoint for every RPC:
// a request with a NUL, a lone surrogate or an oversized field is refused with InvalidArgument naming the field before
// any handler (and so any database statement) sees it.
import type { DescMessage } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { invalid } from "./errors.js";
import { type InputLimits, inputViolations } from "./validation/input-limits.js";

/** Throws InvalidArgument (field violations as google.rpc.BadRequest) when `message` breaks `limits`. */
export function checkInput(desc: DescMessage, message: object, limits: InputLimits): void {
  const violations = inputViolations(desc, message, limits);
  if (violations.length > 0) throw invalid(violations);
}

/** Must run inside the error interceptor (it throws domain errors). */
export function inputInterceptor(limits: InputLimits): Interceptor {
  return (next) => async (req) => {
    const desc = req.method.input;
    if (!req.stream) {
      checkInput(desc, req.message, limits);
      return next(req);
    }
    const messages = req.message;
    const checked = (async function* () {
      for await (const m of messages) {
        checkInput(desc, m, limits);
        yield m;
      }
    })();
    return next({ ...req, message: checked });
  };
}

// Prometheus metrics of the user endpoint: requests and latency per RPC and result code, plus process metrics.
// One registry per server instance (no global default registry), so tests and several servers do not collide.
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import type { DescMethod } from "@bufbuild/protobuf";
import { Counter, Histogram, Registry } from "prom-client";
import { collectProcessMetrics } from "./process-metrics.js";

export function createMetrics() {
  const registry = new Registry();
  collectProcessMetrics(registry, "flightctl_api_process_");
  const labelNames = ["service", "method", "code"] as const;
  const requests = new Counter({
    name: "flightctl_api_requests_total",
    help: "RPCs handled, by service, method and result code.",
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "flightctl_api_request_duration_seconds",
    help: "RPC latency (for streams: until the response stream ends), by service, method and result code.",
    labelNames,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const nameOf = (code: Code) => Code[code].replace(/[A-Z]/g, (c, i: number) => (i ? "_" : "") + c.toLowerCase());
  const codeName = (e: unknown) => nameOf(ConnectError.from(e).code);

  const interceptor: Interceptor = (next) => async (req) => {
    const labels = { service: req.service.typeName, method: req.method.name };
    const started = process.hrtime.bigint();
    const done = (code: string) => {
      requests.inc({ ...labels, code });
      duration.observe({ ...labels, code }, Number(process.hrtime.bigint() - started) / 1e9);
    };
    try {
      const res = await next(req);
      if (!res.stream) {
        done("ok");
        return res;
      }
      const inner = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* inner;
            done("ok");
          } catch (e) {
            done(codeName(e));
            throw e;
          }
        })(),
      };
    } catch (e) {
      done(codeName(e));
      throw e;
    }
  };

  /** Records a call served outside Connect (raw streams); code 0 is success. */
  const record = (method: DescMethod, code: Code | 0, started: bigint) => {
    const labels = { service: method.parent.typeName, method: method.name, code: code === 0 ? "ok" : nameOf(code) };
    requests.inc(labels);
    duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
  };

  return { registry, interceptor, record };
}

export type Metrics = ReturnType<typeof createMetrics>;

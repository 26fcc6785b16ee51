// grpc.health.v1: SERVING for the server ("") and each served service while up, NOT_SERVING once shutdown begins
// (so load balancers drain the replica before it stops).
import type { ConnectRouter } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import {
  Health,
  HealthCheckResponse_ServingStatus as Serving,
  file_third_party_grpc_health_v1_health,
} from "../../gen/third_party/grpc/health/v1/health_pb.js";

export const healthFile = file_third_party_grpc_health_v1_health;

export function createHealth(services: DescService[]) {
  const names = new Set(["", ...services.map((s) => s.typeName), Health.typeName]);
  let status = Serving.SERVING;
  const watchers = new Set<() => void>();
  const statusOf = (service: string) => {
    if (!names.has(service)) return undefined;
    return status;
  };
  return {
    /** Flips every service to NOT_SERVING and wakes watchers. */
    shutdown() {
      status = Serving.NOT_SERVING;
      for (const w of watchers) w();
    },
    register(router: ConnectRouter) {
      router.service(Health, {
        async check(req) {
          const s = statusOf(req.service);
          if (s === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
          return { status: s };
        },
        async *watch(req, ctx) {
          let last: Serving | undefined;
          while (!ctx.signal.aborted) {
            const s = statusOf(req.service) ?? Serving.SERVICE_UNKNOWN;
            if (s !== last) {
              last = s;
              yield { status: s };
            }
            // Shutting down: the watcher has heard NOT_SERVING; end the stream so the endpoint can drain.
            if (status === Serving.NOT_SERVING) return;
            await new Promise<void>((resolve) => {
              const wake = () => {
                watchers.delete(wake);
                ctx.signal.removeEventListener("abort", wake);
                resolve();
              };
              watchers.add(wake);
              ctx.signal.addEventListener("abort", wake);
            });
          }
        },
      });
    },
  };
}

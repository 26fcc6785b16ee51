// The real API server (both endpoints, real sockets) on a fresh database, trusting a test OIDC issuer.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuthProvider } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { startApi, type RunningApi } from "../../server/main/api.js";
import type { RateLimitSettings } from "../../server/config.js";
import { startWorker } from "../../server/main/worker.js";
import { createLogger } from "../../lib/logger.js";
import type { EndpointLimits } from "../../server/platform/endpoint-limits.js";
import { createTestDatabase, type TestDatabase } from "./db.js";
import { startTestIssuer, type TestIssuer } from "./oidc.js";

export interface TestApi {
  api: RunningApi;
  db: TestDatabase;
  issuer: TestIssuer;
  dataDir: string;
  /** Stops the server (idempotent), the issuer, and drops the database. */
  close(): Promise<void>;
  /** Stops only this instance's worker and server (a replica sharing another's database, issuer and data dir). */
  stop(): Promise<void>;
}

export interface TestApiOptions {
  /** Also run a job worker (rendering, fleets) in this process. */
  worker?: boolean;
  /** Seconds between rollout ticks of that worker (default 1). */
  rolloutTickSeconds?: number;
  heartbeatMs?: number;
  /** Idle watch streams get a BOOKMARK this often. */
  watchBookmarkMs?: number;
  /** Reuse this database and data dir (a restart). */
  reuse?: { db: TestDatabase; dataDir: string; issuer: TestIssuer };
  agentPort?: number;
  port?: number;
  /** Providers trusted besides the test issuer (e.g. a PAM issuer for browser logins). */
  authProviders?: AuthProvider[];
  /** Request limits (default none: tests drive one user and one address far harder than any client would). */
  rateLimits?: RateLimitSettings;
  /** Request size, request message and connection limits of both endpoints. */
  limits?: EndpointLimits;
  /** Prometheus the charts read from (MetricsService; default none). */
  prometheusUrl?: string;
  /** Alertmanager the alerts are read from (AlertService; default none). */
  alertmanagerUrl?: string;
}

export async function startTestApi(opts: TestApiOptions = {}): Promise<TestApi> {
  const db = opts.reuse?.db ?? (await createTestDatabase());
  const issuer = opts.reuse?.issuer ?? (await startTestIssuer());
  const dataDir = opts.reuse?.dataDir ?? mkdtempSync(join(tmpdir(), "fc-api-"));
  chmodSync(dataDir, 0o755);
  const log = createLogger("test", "error");
  const api = await startApi({
    databaseUrl: db.url,
    dataDir,
    address: `127.0.0.1:${opts.port ?? 0}`,
    agentAddress: `127.0.0.1:${opts.agentPort ?? 0}`,
    agentEndpointUrl: opts.agentPort ? `https://localhost:${opts.agentPort}` : undefined,
    authProviders: [issuer.provider(), ...(opts.authProviders ?? [])],
    heartbeatMs: opts.heartbeatMs,
    watchBookmarkMs: opts.watchBookmarkMs,
    lastSeenFlushMs: 200,
    rateLimits: opts.rateLimits ?? { trustedProxies: [] },
    limits: opts.limits,
    prometheusUrl: opts.prometheusUrl,
    alertmanagerUrl: opts.alertmanagerUrl,
    log,
  });
  const worker = opts.worker
    ? await startWorker({ databaseUrl: db.url, log, concurrency: 8, rolloutTickSeconds: opts.rolloutTickSeconds ?? 1 })
    : undefined;
  const t: TestApi = {
    api,
    db,
    issuer,
    dataDir,
    async stop() {
      await worker?.close();
      await t.api.close();
    },
    async close() {
      await worker?.close();
      // The server may have been replaced by a restart (t.api); close whichever runs now, and the first one.
      await t.api.close();
      await api.close();
      await issuer.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

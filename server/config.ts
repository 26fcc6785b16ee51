// The one place the server processes read their environment: `loadConfig` turns it into a typed object with
// defaults, and refuses a bad value with a message naming the variable. Every process (npm start, flightctl-api,
// flightctl-worker, flightctl-periodic, flightctl-pam-issuer) reads it once in main/ and passes the settings down, so
// a variable means the same thing wherever it applies. docs/server.md lists exactly what is read here.
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULT_CONSOLE_LIMITS, type ConsoleLimits } from "./console/console-limits.js";
import { ASYMMETRIC_ALGORITHMS, DEFAULT_TOKEN_POLICY, type TokenPolicy } from "./auth/token-policy.js";
import { trustedProxies } from "./platform/client-ip.js";
import type { LoginLockout, RateLimit } from "./platform/rate-limit.js";
import { DEFAULT_ENDPOINT_LIMITS, type EndpointLimits } from "./platform/endpoint-limits.js";
import { quote } from "../lib/quote.js";
import type { TelemetrySettings } from "./telemetry/gateway.js";
import type { AlertExporterSettings } from "./alerts/exporter.js";
import { DEFAULT_RETRY } from "./alerts/alert-poster.js";
import { parseFleetRules, type FleetRule } from "./alerts/fleet-rules.js";

/** The environment (process.env, or a test's map). */
export type Env = Readonly<Record<string, string | undefined>>;

/** A setting that cannot be used; the message starts with the variable's name. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The API server's settings (flightctl-api, npm start). */
export interface ApiSettings {
  /** User endpoint host:port. */
  address: string;
  /** Agent endpoint host:port. */
  agentAddress: string;
  /** What enrollment config tells agents to dial (unset: https://<host name>:<agent port>). */
  agentEndpointUrl?: string;
  /** Extra names for the server certificates. */
  sans: string[];
  /** A YAML file of AuthProvider documents trusted besides the AuthProvider resources. */
  authConfig?: string;
  /** PEM CA bundle trusted for calls to auth providers (e.g. a private AAP) besides the system CAs and the service CA. */
  authCaFile?: string;
  csrAutoApprove: boolean;
  /** The web UI's URL agents print for approval. */
  uiUrl?: string;
  /** The web UI build to serve (unset: web/dist of this checkout; "": none). */
  webDir?: string;
  /** Rendered-device stream heartbeat period (unset: the agent endpoint's default, 30 s). */
  heartbeatMs?: number;
  /** How often lastSeen marks are written (unset: 5 s). */
  lastSeenFlushMs?: number;
  /** Idle watch streams get a BOOKMARK this often (unset: 30 s). */
  watchBookmarkMs?: number;
  /** Database connections of the API process. */
  dbPoolMax: number;
  /** Log the memory breakdown this often (unset: never). */
  debugMemoryMs?: number;
  console: ConsoleLimits;
  /** Request size, request message and connection limits of both endpoints. */
  limits: EndpointLimits;
  /** The git commit the build came from, shown in the version (unset: none). */
  gitCommit?: string;
  /** Prometheus HTTP API base URL the web UI's charts read from (unset: charts not configured). */
  prometheusUrl?: string;
}

/** The job runners' settings (flightctl-worker, flightctl-periodic, npm start). */
export interface WorkerSettings {
  /** Jobs run at once by one runner. */
  concurrency: number;
  /** Seconds between ticks of a policy rollout. */
  rolloutTickSeconds: number;
  /** A job locked this long belongs to a dead runner and runs again. */
  staleJobSeconds: number;
  /** The git clone cache shared by a runner's tasks. */
  gitCacheDir: string;
  /** ssh host keys of git servers (unset: ~/.ssh/known_hosts). */
  gitKnownHosts?: string;
  /** flightctl-worker also schedules the crontab (FLIGHTCTL_PERIODIC=1; flightctl-periodic always does). */
  periodic: boolean;
  retention: RetentionSettings;
}

/** The event_cleanup job (docs/operations.md "Event retention"): what ages out, and how much one statement deletes. */
export interface RetentionSettings {
  /** Events older than this are deleted (flightctl keeps 7 days). */
  eventsMs: number;
  /** Console sessions and their recordings older than this are deleted. */
  consoleMs: number;
  /** Rows per DELETE statement: bounds how long one statement holds its row locks. */
  batchSize: number;
}

/** Service metrics (docs/telemetry.md "Service metrics"). */
export interface MetricsSettings {
  /** How often the fleet-wide gauges are computed, by one API replica at a time (flightctl's collectors tick every 30 s). */
  intervalMs: number;
  /** The device gauges' `fleet` label is the device's owner (false: "unknown" for every device, fewer series). */
  groupByFleet: boolean;
  /**
   * Where the API serves its service metrics, host:port of a plain HTTP listener (unset: on the user endpoint's /metrics,
   * with its RPC metrics). They name organizations and fleets: a listener of their own keeps them off the public port.
   */
  address?: string;
  /** This process's `replica` label (unset: <host name>:<user endpoint port> for the API, <host name>:<pid> for a worker). */
  replica?: string;
  /** Where flightctl-worker/-periodic (and npm start's worker) serve GET /metrics, host:port (unset: nowhere). */
  workerAddress?: string;
}

/** The built-in OIDC issuer's settings (flightctl-pam-issuer, npm start). */
export interface PamIssuerSettings {
  /** Listen host:port. */
  address: string;
  /** Public issuer URL (unset: https://localhost:<port>/api/v1/auth). */
  url?: string;
  /** The PAM service, a file in /etc/pam.d. */
  service: string;
  /** Allowed OAuth2 redirect URIs (unset: the process's default). */
  redirectUris?: string[];
  clientId: string;
  /** Unset: a public client. */
  clientSecret?: string;
  /** TLS PEM files of flightctl-pam-issuer (unset: <data dir>/certs/server.crt|key; npm start uses the API's). */
  tlsCert?: string;
  tlsKey?: string;
}

/**
 * Request limits of the API and the PAM issuer (FLIGHTCTL_RATE_LIMITS=false: none). Counted per process; a limit left
 * undefined is off. The defaults are far above what a fleet sends (docs/server.md says why each is what it is).
 */
export interface RateLimitSettings {
  /** Proxies (CIDRs) whose Forwarded / X-Forwarded-For headers name the client; nobody else's are believed. */
  trustedProxies: string[];
  /** Per client IP: the PAM issuer's token, authorize and login endpoints together; the API's ExchangeToken. */
  authPerIp?: RateLimit;
  /** Per client IP: enrollment request creation, on the user API and by agents. */
  enrollmentPerIp?: RateLimit;
  /** Per client IP: agents polling their enrollment request until it is approved. */
  enrollmentPollsPerIp?: RateLimit;
  /** Per user (issuer and subject): unary calls on the user API. */
  perUser?: RateLimit;
  /** Per device management certificate (fingerprint): unary calls on the agent API. */
  perDevice?: RateLimit;
  /** Failed logins per user name at the PAM issuer, and the growing lockout after them. */
  login?: LoginLockout;
}

/** Everything the server processes read from their environment. */
export interface ServerConfig {
  /** The Postgres URL (unset: npm start runs an embedded Postgres; the other processes refuse to start). */
  databaseUrl?: string;
  /** PKI, the PAM issuer's key, the admin password, embedded Postgres (absolute). */
  dataDir: string;
  /** pino level. */
  logLevel: string;
  /** Redis: console relay across API replicas and frozen git/http content across workers (unset: in-process). */
  redisUrl?: string;
  /** Waiting longer than this for a database connection fails the statement (Unavailable) instead of hanging (ms). */
  dbConnectTimeoutMs: number;
  /** npm start: the embedded Postgres is restarted when it exits, at most this often (ms, doubling while it keeps failing). */
  embeddedRestartMs: number;
  api: ApiSettings;
  worker: WorkerSettings;
  pamIssuer: PamIssuerSettings;
  metrics: MetricsSettings;
  /** What bearer tokens must satisfy on every path (expiry, lifetime, clock skew, algorithms). */
  tokens: TokenPolicy;
  rateLimits: RateLimitSettings;
  /** flightctl-telemetry-gateway (and npm start unless FLIGHTCTL_TELEMETRY_ENABLED=false). */
  telemetry: TelemetryGatewaySettings;
  /** Alerts: where Alertmanager is, flightctl-alert-exporter, the Alertmanager proxy (docs/alerts.md). */
  alerts: AlertSettings;
  /**
   * flightctl-backup / flightctl-restore: the directory of pg_dump and pg_restore (unset: PATH). They must be of the
   * server's major version or newer (docs/operations.md).
   */
  pgBinDir?: string;
  /** flightctl-userinfo-proxy (docs/operations.md). */
  userinfoProxy: UserinfoProxySettings;
}

/** flightctl-userinfo-proxy: AAP's /me as OIDC UserInfo for Grafana (docs/operations.md). */
export interface UserinfoProxySettings {
  /** Listen host:port. */
  address: string;
  /** AAP's /api/gateway/v1/me/ URL (required by that process). */
  upstreamUrl?: string;
  /** PEM CA bundle trusted for the upstream besides the system CAs. */
  caFile?: string;
  /** Accept any upstream certificate. */
  insecureSkipTlsVerify: boolean;
}

/** The telemetry gateway's settings: where it listens and exports, and its limits (docs/telemetry.md). */
export interface TelemetryGatewaySettings extends TelemetrySettings {
  /** npm start runs the gateway too (flightctl-telemetry-gateway ignores it). */
  enabled: boolean;
  /** Database connections of the gateway process (device lookups). */
  dbPoolMax: number;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Reads the settings from `env`; throws ConfigError naming the first variable that cannot be used. */
export function loadConfig(env: Env = process.env): ServerConfig {
  const r = reader(env);
  const c = DEFAULT_CONSOLE_LIMITS;
  const l = DEFAULT_ENDPOINT_LIMITS;
  return {
    databaseUrl: r.str("DATABASE_URL"),
    dataDir: resolve(r.str("FLIGHTCTL_DATA_DIR") ?? ".data"),
    logLevel: r.oneOf("LOG_LEVEL", LOG_LEVELS) ?? "info",
    redisUrl: r.str("FLIGHTCTL_REDIS_URL"),
    dbConnectTimeoutMs: r.positiveInt("FLIGHTCTL_DB_CONNECT_TIMEOUT_SECONDS", 1000) ?? 10_000,
    embeddedRestartMs: r.positiveInt("FLIGHTCTL_EMBEDDED_POSTGRES_RESTART_SECONDS", 1000) ?? 1000,
    api: {
      address: r.address("FLIGHTCTL_API_ADDRESS") ?? "0.0.0.0:3443",
      agentAddress: r.address("FLIGHTCTL_AGENT_ADDRESS") ?? "0.0.0.0:7443",
      agentEndpointUrl: r.url("FLIGHTCTL_AGENT_ENDPOINT_URL"),
      sans: r.list("FLIGHTCTL_API_SANS") ?? [],
      authConfig: r.str("FLIGHTCTL_AUTH_CONFIG"),
      authCaFile: r.str("FLIGHTCTL_AUTH_CA_FILE"),
      csrAutoApprove: r.bool("FLIGHTCTL_CSR_AUTO_APPROVE") ?? true,
      uiUrl: r.url("FLIGHTCTL_UI_URL"),
      prometheusUrl: r.httpUrl("FLIGHTCTL_PROMETHEUS_URL"),
      // Set but empty means "serve no web UI", so unlike the others an empty value is kept.
      webDir: env.FLIGHTCTL_WEB_DIR === undefined ? undefined : env.FLIGHTCTL_WEB_DIR && resolve(env.FLIGHTCTL_WEB_DIR),
      heartbeatMs: r.positiveInt("FLIGHTCTL_HEARTBEAT_SECONDS", 1000),
      lastSeenFlushMs: r.positiveInt("FLIGHTCTL_LASTSEEN_FLUSH_SECONDS", 1000),
      watchBookmarkMs: r.positiveInt("FLIGHTCTL_WATCH_BOOKMARK_SECONDS", 1000),
      dbPoolMax: r.positiveInt("FLIGHTCTL_DB_POOL_MAX") ?? 20,
      debugMemoryMs: r.positiveInt("FLIGHTCTL_DEBUG_MEMORY", 1000),
      console: {
        maxSessionsPerDevice: r.positive("FLIGHTCTL_CONSOLE_MAX_SESSIONS_PER_DEVICE") ?? c.maxSessionsPerDevice,
        attachTimeoutMs: r.positive("FLIGHTCTL_CONSOLE_ATTACH_TIMEOUT_SECONDS", 1000) ?? c.attachTimeoutMs,
        idleTimeoutMs: r.positive("FLIGHTCTL_CONSOLE_IDLE_TIMEOUT_SECONDS", 1000) ?? c.idleTimeoutMs,
        maxDurationMs: r.positive("FLIGHTCTL_CONSOLE_MAX_DURATION_SECONDS", 1000) ?? c.maxDurationMs,
        recordingMaxBytes: r.positive("FLIGHTCTL_CONSOLE_RECORDING_MAX_BYTES") ?? c.recordingMaxBytes,
      },
      limits: {
        maxRequestBytes: r.positiveInt("FLIGHTCTL_MAX_REQUEST_BYTES") ?? l.maxRequestBytes,
        input: {
          maxStringLength: r.positiveInt("FLIGHTCTL_MAX_STRING_LENGTH") ?? l.input.maxStringLength,
          maxItems: r.positiveInt("FLIGHTCTL_MAX_ITEMS") ?? l.input.maxItems,
          maxDepth: r.positiveInt("FLIGHTCTL_MAX_DEPTH") ?? l.input.maxDepth,
        },
        tlsHandshakeTimeoutMs: r.positive("FLIGHTCTL_TLS_HANDSHAKE_TIMEOUT_SECONDS", 1000) ?? l.tlsHandshakeTimeoutMs,
        headersTimeoutMs: r.positive("FLIGHTCTL_HTTP_HEADERS_TIMEOUT_SECONDS", 1000) ?? l.headersTimeoutMs,
        keepAliveTimeoutMs: r.positive("FLIGHTCTL_HTTP_KEEPALIVE_TIMEOUT_SECONDS", 1000) ?? l.keepAliveTimeoutMs,
        http2IdleTimeoutMs: r.positive("FLIGHTCTL_HTTP2_IDLE_TIMEOUT_SECONDS", 1000) ?? l.http2IdleTimeoutMs,
        maxConcurrentStreams: r.positiveInt("FLIGHTCTL_HTTP2_MAX_CONCURRENT_STREAMS") ?? l.maxConcurrentStreams,
      },
      gitCommit: r.str("FLIGHTCTL_GIT_COMMIT"),
    },
    worker: {
      concurrency: r.positiveInt("FLIGHTCTL_WORKER_CONCURRENCY") ?? 4,
      rolloutTickSeconds: r.positiveInt("FLIGHTCTL_ROLLOUT_TICK_SECONDS") ?? 30,
      staleJobSeconds: r.positiveInt("FLIGHTCTL_STALE_JOB_SECONDS") ?? 300,
      gitCacheDir: resolve(r.str("FLIGHTCTL_GIT_CACHE_DIR") ?? join(tmpdir(), "flightctl-git-cache")),
      gitKnownHosts: r.str("FLIGHTCTL_GIT_KNOWN_HOSTS"),
      periodic: r.bool("FLIGHTCTL_PERIODIC") ?? false,
      // Retention, applied by the periodic event_cleanup job.
      retention: {
        eventsMs: r.positive("FLIGHTCTL_EVENT_RETENTION_DAYS", 86_400_000) ?? 7 * 86_400_000,
        consoleMs: r.positive("FLIGHTCTL_CONSOLE_RETENTION_DAYS", 86_400_000) ?? 30 * 86_400_000,
        batchSize: r.positiveInt("FLIGHTCTL_RETENTION_BATCH_SIZE") ?? 5000,
      },
    },
    pamIssuer: {
      address: r.address("FLIGHTCTL_PAM_ISSUER_ADDRESS") ?? "0.0.0.0:8444",
      url: r.url("FLIGHTCTL_PAM_ISSUER_URL"),
      service: r.str("FLIGHTCTL_PAM_SERVICE") ?? "flightctl",
      redirectUris: r.list("FLIGHTCTL_PAM_REDIRECT_URIS"),
      clientId: r.str("FLIGHTCTL_PAM_CLIENT_ID") ?? "flightctl-client",
      clientSecret: r.str("FLIGHTCTL_PAM_CLIENT_SECRET"),
      tlsCert: r.str("FLIGHTCTL_PAM_ISSUER_TLS_CERT"),
      tlsKey: r.str("FLIGHTCTL_PAM_ISSUER_TLS_KEY"),
    },
    metrics: {
      intervalMs: r.positive("FLIGHTCTL_METRICS_INTERVAL_SECONDS", 1000) ?? 30_000,
      groupByFleet: r.bool("FLIGHTCTL_METRICS_GROUP_BY_FLEET") ?? true,
      address: r.address("FLIGHTCTL_METRICS_ADDRESS"),
      replica: r.str("FLIGHTCTL_METRICS_REPLICA"),
      workerAddress: r.address("FLIGHTCTL_WORKER_METRICS_ADDRESS"),
    },
    tokens: {
      maxLifetimeSec: r.positiveInt("FLIGHTCTL_AUTH_MAX_TOKEN_LIFETIME_SECONDS") ?? DEFAULT_TOKEN_POLICY.maxLifetimeSec,
      clockSkewSec: r.nonNegativeInt("FLIGHTCTL_AUTH_CLOCK_SKEW_SECONDS") ?? DEFAULT_TOKEN_POLICY.clockSkewSec,
      algorithms: r.subsetOf("FLIGHTCTL_AUTH_ALGORITHMS", ASYMMETRIC_ALGORITHMS) ?? DEFAULT_TOKEN_POLICY.algorithms,
    },
    rateLimits: rateLimits(r),
    telemetry: telemetry(r),
    alerts: alerts(r),
    pgBinDir: r.str("FLIGHTCTL_PG_BIN_DIR"),
    // flightctl-userinfo-proxy (flightctl's USERINFO_* variables, under this project's prefix).
    userinfoProxy: {
      address: r.address("FLIGHTCTL_USERINFO_ADDRESS") ?? "0.0.0.0:8080",
      upstreamUrl: r.httpUrl("FLIGHTCTL_USERINFO_UPSTREAM_URL"),
      caFile: r.str("FLIGHTCTL_USERINFO_CA_FILE"),
      insecureSkipTlsVerify: r.bool("FLIGHTCTL_USERINFO_SKIP_TLS_VERIFY") ?? false,
    },
  };
}

/** Alertmanager, the alert exporter and the Alertmanager proxy (docs/alerts.md). */
export interface AlertSettings {
  /**
   * Alertmanager's base URL (unset: no alerts; npm start runs no exporter and no proxy, AlertService answers
   * FailedPrecondition).
   */
  alertmanagerUrl?: string;
  exporter: Omit<AlertExporterSettings, "alertmanagerUrl">;
  // --- flightctl-alertmanager-proxy ---
  /** Where the proxy listens, host:port (flightctl's default port, 8443). */
  proxyAddress: string;
  /** The proxy serves TLS with the API's user-endpoint certificate (false: plain HTTP, behind a TLS-terminating proxy). */
  proxyTls: boolean;
  /** Database connections of the proxy process (organizations, AuthProvider resources). */
  proxyDbPoolMax: number;
}

function fleetRules(text: string | undefined): FleetRule[] {
  try {
    return parseFleetRules(text ?? "");
  } catch (err) {
    throw new ConfigError(`FLIGHTCTL_ALERT_FLEET_RULES: ${(err as Error).message}`);
  }
}

function alerts(r: ReturnType<typeof reader>): AlertSettings {
  const maxRetries = r.positiveInt("FLIGHTCTL_ALERTMANAGER_MAX_RETRIES") ?? DEFAULT_RETRY.maxRetries;
  if (maxRetries > 10) throw new ConfigError(`FLIGHTCTL_ALERTMANAGER_MAX_RETRIES: must be 1 to 10, got ${maxRetries}`);
  const baseDelayMs = r.positive("FLIGHTCTL_ALERTMANAGER_RETRY_BASE_DELAY_SECONDS", 1000) ?? DEFAULT_RETRY.baseDelayMs;
  const maxDelayMs = r.positive("FLIGHTCTL_ALERTMANAGER_RETRY_MAX_DELAY_SECONDS", 1000) ?? DEFAULT_RETRY.maxDelayMs;
  if (maxDelayMs <= baseDelayMs)
    throw new ConfigError(`FLIGHTCTL_ALERTMANAGER_RETRY_MAX_DELAY_SECONDS: must be above the base delay (${baseDelayMs / 1000} s)`);
  return {
    alertmanagerUrl: r.httpUrl("FLIGHTCTL_ALERTMANAGER_URL"),
    exporter: {
      pollMs: r.positive("FLIGHTCTL_ALERT_EXPORTER_POLL_SECONDS", 1000) ?? 5000,
      resendMs: r.positive("FLIGHTCTL_ALERT_EXPORTER_RESEND_SECONDS", 1000) ?? 60_000,
      lockRetryMs: r.positive("FLIGHTCTL_ALERT_EXPORTER_LOCK_RETRY_SECONDS", 1000) ?? 10_000,
      address:
        r.bool("FLIGHTCTL_ALERT_EXPORTER_METRICS") === false
          ? undefined
          : (r.address("FLIGHTCTL_ALERT_EXPORTER_ADDRESS") ?? "0.0.0.0:8081"),
      retry: { maxRetries, baseDelayMs, maxDelayMs, timeoutMs: DEFAULT_RETRY.timeoutMs },
      fleetRules: fleetRules(r.str("FLIGHTCTL_ALERT_FLEET_RULES")),
    },
    proxyAddress: r.address("FLIGHTCTL_ALERTMANAGER_PROXY_ADDRESS") ?? "0.0.0.0:8443",
    proxyTls: r.bool("FLIGHTCTL_ALERTMANAGER_PROXY_TLS") ?? true,
    proxyDbPoolMax: r.positiveInt("FLIGHTCTL_ALERTMANAGER_PROXY_DB_POOL_MAX") ?? 5,
  };
}

/** The telemetry gateway's settings (see TelemetryGatewaySettings and docs/telemetry.md). */
function telemetry(r: ReturnType<typeof reader>): TelemetryGatewaySettings {
  const forwardEndpoint = r.url("FLIGHTCTL_TELEMETRY_FORWARD_ENDPOINT");
  const remoteWriteUrl = r.url("FLIGHTCTL_TELEMETRY_REMOTE_WRITE_URL");
  return {
    enabled: r.bool("FLIGHTCTL_TELEMETRY_ENABLED") ?? true,
    grpcAddress: r.address("FLIGHTCTL_TELEMETRY_GRPC_ADDRESS") ?? "0.0.0.0:4317",
    httpAddress: r.address("FLIGHTCTL_TELEMETRY_HTTP_ADDRESS") ?? "0.0.0.0:4318",
    prometheusAddress:
      r.bool("FLIGHTCTL_TELEMETRY_PROMETHEUS") === false
        ? undefined
        : (r.address("FLIGHTCTL_TELEMETRY_PROMETHEUS_ADDRESS") ?? "0.0.0.0:9464"),
    staleAfterMs: r.positiveInt("FLIGHTCTL_TELEMETRY_STALE_SECONDS", 1000) ?? 300_000,
    maxRequestBytes: r.positiveInt("FLIGHTCTL_TELEMETRY_MAX_REQUEST_BYTES") ?? 4 * 1024 * 1024,
    maxSeriesPerDevice: r.positiveInt("FLIGHTCTL_TELEMETRY_MAX_SERIES_PER_DEVICE") ?? 2000,
    maxPointsPerDevicePerMinute: r.nonNegativeInt("FLIGHTCTL_TELEMETRY_MAX_POINTS_PER_DEVICE_PER_MINUTE") ?? 60_000,
    forward: forwardEndpoint
      ? {
          endpoint: forwardEndpoint,
          caFile: r.str("FLIGHTCTL_TELEMETRY_FORWARD_CA_FILE"),
          certFile: r.str("FLIGHTCTL_TELEMETRY_FORWARD_CERT_FILE"),
          keyFile: r.str("FLIGHTCTL_TELEMETRY_FORWARD_KEY_FILE"),
        }
      : undefined,
    remoteWrite: remoteWriteUrl
      ? { url: remoteWriteUrl, intervalMs: r.positiveInt("FLIGHTCTL_TELEMETRY_REMOTE_WRITE_INTERVAL_SECONDS", 1000) ?? 15_000 }
      : undefined,
    dbPoolMax: r.positiveInt("FLIGHTCTL_TELEMETRY_DB_POOL_MAX") ?? 5,
  };
}

/** The rate limits (see RateLimitSettings and docs/server.md). */
function rateLimits(r: ReturnType<typeof reader>): RateLimitSettings {
  const proxies = r.list("FLIGHTCTL_TRUSTED_PROXIES") ?? [];
  try {
    trustedProxies(proxies);
  } catch (err) {
    throw new ConfigError(`FLIGHTCTL_TRUSTED_PROXIES: ${(err as Error).message}`);
  }
  if (r.bool("FLIGHTCTL_RATE_LIMITS") === false) return { trustedProxies: proxies };
  const perMinute = (name: string, def: number): RateLimit => ({ points: r.positiveInt(name) ?? def, durationSec: 60 });
  return {
    trustedProxies: proxies,
    authPerIp: perMinute("FLIGHTCTL_RATE_LIMIT_AUTH_PER_MINUTE", 300),
    enrollmentPerIp: perMinute("FLIGHTCTL_RATE_LIMIT_ENROLLMENT_PER_MINUTE", 12_000),
    enrollmentPollsPerIp: perMinute("FLIGHTCTL_RATE_LIMIT_ENROLLMENT_POLLS_PER_MINUTE", 120_000),
    perUser: perMinute("FLIGHTCTL_RATE_LIMIT_USER_PER_MINUTE", 6000),
    perDevice: perMinute("FLIGHTCTL_RATE_LIMIT_DEVICE_PER_MINUTE", 600),
    login: {
      maxFailures: r.positiveInt("FLIGHTCTL_LOGIN_MAX_FAILURES") ?? 10,
      windowSec: r.positiveInt("FLIGHTCTL_LOGIN_FAILURE_WINDOW_SECONDS") ?? 900,
      lockoutSec: r.positiveInt("FLIGHTCTL_LOGIN_LOCKOUT_SECONDS") ?? 60,
      lockoutMaxSec: r.positiveInt("FLIGHTCTL_LOGIN_LOCKOUT_MAX_SECONDS") ?? 3600,
    },
  };
}

/** `given` over `defaults`, an undefined value taking the default (options objects built from optional fields). */
export function withDefaults<T extends object, G extends Partial<T>>(defaults: T, given: G): T & G {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) out[k] = v;
  return out as T & G;
}

/** Typed reads of one environment; an empty value counts as unset. */
function reader(env: Env) {
  const fail = (name: string, want: string, got: string): never => {
    throw new ConfigError(`${name}: must be ${want}, got ${quote(got)}`);
  };
  const str = (name: string): string | undefined => env[name]?.trim() || undefined;
  /** A number, times `unit` (e.g. 1000 for seconds read as milliseconds). */
  const number = (name: string, want: string, ok: (n: number) => boolean, unit: number): number | undefined => {
    const v = str(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    return ok(n) ? n * unit : fail(name, want, v);
  };
  return {
    str,
    positiveInt: (name: string, unit = 1) => number(name, "a positive integer", (n) => Number.isSafeInteger(n) && n > 0, unit),
    positive: (name: string, unit = 1) => number(name, "a positive number", (n) => Number.isFinite(n) && n > 0, unit),
    nonNegativeInt: (name: string) => number(name, "an integer >= 0", (n) => Number.isSafeInteger(n) && n >= 0, 1),
    bool(name: string): boolean | undefined {
      const v = str(name)?.toLowerCase();
      if (v === undefined) return undefined;
      if (v === "true" || v === "1") return true;
      if (v === "false" || v === "0") return false;
      return fail(name, "true or false", v);
    },
    oneOf(name: string, allowed: string[]): string | undefined {
      const v = str(name);
      return v === undefined || allowed.includes(v) ? v : fail(name, `one of ${allowed.join(", ")}`, v);
    },
    /** host:port ([v6]:port, or :port for every interface). */
    address(name: string): string | undefined {
      const v = str(name);
      if (v === undefined) return undefined;
      const port = /:(\d+)$/.exec(v)?.[1];
      return port !== undefined && Number(port) <= 65535 ? v : fail(name, "host:port", v);
    },
    url(name: string): string | undefined {
      const v = str(name);
      if (v === undefined) return undefined;
      return URL.canParse(v) ? v : fail(name, "a URL", v);
    },
    /** An http:// or https:// URL (a host:port without a scheme parses as a URL of scheme "host:"). */
    httpUrl(name: string): string | undefined {
      const v = str(name);
      if (v === undefined) return undefined;
      return /^https?:$/.test(URL.parse(v)?.protocol ?? "") ? v : fail(name, "an http:// or https:// URL", v);
    },
    /** A comma separated list of some of `allowed`. */
    subsetOf(name: string, allowed: string[]): string[] | undefined {
      const v = str(name);
      if (v === undefined) return undefined;
      const items = v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = items.find((i) => !allowed.includes(i));
      return bad === undefined && items.length > 0 ? items : fail(name, `a list of ${allowed.join(", ")}`, v);
    },
    /** Comma separated, blanks dropped. */
    list(name: string): string[] | undefined {
      const v = str(name);
      return v
        ?.split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    },
  };
}

// The agent's config.yaml: flightctl's keys (the enrollment-service block is exactly what GetEnrollmentConfig returns)
// plus where the agent keeps its state. Durations are Go-style strings ("60s", "5m"). Drop-ins in conf.d/*.yaml next to
// config.yaml override its top-level keys, in file-name order (re-read when the agent gets SIGHUP).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse } from "yaml";

export interface AgentConfig {
  server: string;
  /** PEM bundle the agent trusts for the server. */
  caPem: string;
  /** Enrollment (bootstrap) certificate and key, PEM. */
  enrollmentCertPem: string;
  enrollmentKeyPem: string;
  enrollmentUiEndpoint?: string;
  /** Identity, spec files (default /var/lib/flightctl). */
  dataDir: string;
  /** Device file system root (default "/"; tests and the simulator use a directory). */
  rootDir: string;
  statusUpdateIntervalMs: number;
  specFetchErrorBaseDelayMs: number;
  specFetchErrorMaxDelayMs: number;
  enrollmentVerifyIntervalMs: number;
  certCheckIntervalMs: number;
  /** Retry of an update that could not start (an image pull failed): ×1.5 from the base delay (30 s) up to the max (5 m). */
  updateRetryBaseDelayMs?: number;
  updateRetryMaxDelayMs?: number;
  defaultLabels: Record<string, string>;
  /** OTLP metrics export to the telemetry gateway (config.yaml `telemetry`); absent: none. */
  telemetry?: TelemetryConfig;
}

export interface TelemetryConfig {
  /** The gateway's OTLP/gRPC endpoint, https://host:4317 (verified against caPem; the client certificate is the device's). */
  endpoint: string;
  /** Between exports (default 60 s). */
  intervalMs: number;
}

/** `telemetry: {endpoint, interval}`; no endpoint: telemetry off. */
function telemetryConfig(v: unknown): TelemetryConfig | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw new Error("telemetry: must be a map with endpoint and interval");
  const t = v as Record<string, unknown>;
  if (t.endpoint === undefined || t.endpoint === null || t.endpoint === "") return undefined;
  let url: URL;
  try {
    url = new URL(String(t.endpoint));
  } catch {
    throw new Error(`telemetry.endpoint: must be a URL like "https://telemetry.example.com:4317", got "${String(t.endpoint)}"`);
  }
  if (url.protocol !== "https:")
    throw new Error(`telemetry.endpoint: must be https:// (the gateway takes mTLS only), got "${String(t.endpoint)}"`);
  const intervalMs = durationMs(t.interval, "telemetry.interval", 60_000);
  if (intervalMs < 1000) throw new Error("telemetry.interval: must be at least 1s");
  return { endpoint: url.origin, intervalMs };
}

export const UPDATE_RETRY_BASE_MS = 30_000;
export const UPDATE_RETRY_MAX_MS = 5 * 60_000;

/** "60s", "5m", "1h30m", "250ms" → milliseconds. */
export function durationMs(v: unknown, field: string, fallback: number): number {
  if (v === undefined || v === null || v === "") return fallback;
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(String(v));
  if (!m || String(v) === "") throw new Error(`${field}: must be a duration like "60s" or "5m", got "${String(v)}"`);
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000 + Number(m[4] ?? 0);
}

const b64 = (v: unknown) => (typeof v === "string" && v ? Buffer.from(v, "base64").toString("utf8") : "");

/** Parses config.yaml text (and drop-ins after it, each overriding top-level keys); errors name the key. */
export function parseAgentConfig(text: string | string[], overrides: Partial<AgentConfig> = {}): AgentConfig {
  const doc = Object.assign({}, ...[text].flat().map((t) => (parse(t) ?? {}) as Record<string, unknown>)) as Record<string, unknown>;
  const es = (doc["enrollment-service"] ?? {}) as Record<string, Record<string, unknown> | string>;
  const service = (es.service ?? {}) as Record<string, unknown>;
  const auth = (es.authentication ?? {}) as Record<string, unknown>;
  const server = String(service.server ?? "");
  if (!server) throw new Error("enrollment-service.service.server: is required (the agent endpoint, https://host:7443)");
  const cfg: AgentConfig = {
    server,
    caPem: b64(service["certificate-authority-data"]),
    enrollmentCertPem: b64(auth["client-certificate-data"]),
    enrollmentKeyPem: b64(auth["client-key-data"]),
    enrollmentUiEndpoint: typeof es["enrollment-ui-endpoint"] === "string" ? es["enrollment-ui-endpoint"] : undefined,
    dataDir: String(doc["data-dir"] ?? "/var/lib/flightctl"),
    rootDir: String(process.env.FLIGHTCTL_TEST_ROOT_DIR ?? doc["test-root-dir"] ?? "/"),
    statusUpdateIntervalMs: durationMs(doc["status-update-interval"], "status-update-interval", 60_000),
    specFetchErrorBaseDelayMs: durationMs(doc["spec-fetch-error-base-delay"], "spec-fetch-error-base-delay", 5_000),
    specFetchErrorMaxDelayMs: durationMs(doc["spec-fetch-error-max-delay"], "spec-fetch-error-max-delay", 5 * 60_000),
    enrollmentVerifyIntervalMs: durationMs(doc["enrollment-verify-interval"], "enrollment-verify-interval", 10_000),
    certCheckIntervalMs: durationMs(doc["cert-check-interval"], "cert-check-interval", 3600_000),
    updateRetryBaseDelayMs: durationMs(doc["update-retry-base-delay"], "update-retry-base-delay", UPDATE_RETRY_BASE_MS),
    updateRetryMaxDelayMs: durationMs(doc["update-retry-max-delay"], "update-retry-max-delay", UPDATE_RETRY_MAX_MS),
    defaultLabels: (doc["default-labels"] ?? {}) as Record<string, string>,
    telemetry: telemetryConfig(doc.telemetry),
    ...overrides,
  };
  if (cfg.statusUpdateIntervalMs < 1000) throw new Error("status-update-interval: must be at least 1s");
  return cfg;
}

export function loadAgentConfig(path: string, overrides: Partial<AgentConfig> = {}): AgentConfig {
  try {
    const confD = join(dirname(path), "conf.d");
    const dropIns = existsSync(confD)
      ? readdirSync(confD)
          .filter((n) => /\.ya?ml$/.test(n))
          .sort()
          .map((n) => readFileSync(join(confD, n), "utf8"))
      : [];
    return parseAgentConfig([readFileSync(path, "utf8"), ...dropIns], overrides);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

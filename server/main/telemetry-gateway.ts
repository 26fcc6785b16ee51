// flightctl-telemetry-gateway: the OTLP receiver devices export metrics and traces to (server/telemetry/gateway.ts).
// Run directly, or started by all-in-one.ts when FLIGHTCTL_TELEMETRY_ENABLED. It needs the API's database (devices are
// looked up there) and data dir (the service CA that issued the devices' certificates).
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import type { Logger } from "pino";
import type { ServerConfig } from "../config.js";
import { ensurePki, serverNames } from "../platform/pki/ca.js";
import { createPool } from "../platform/pg-pool.js";
import { startTelemetryGateway, type RunningGateway } from "../telemetry/gateway.js";
import { requireDatabaseUrl, runProcess } from "./process.js";

/** Starts the gateway from the configuration on `databaseUrl`; close() also ends its pool. */
export async function startGatewayProcess(config: ServerConfig, databaseUrl: string, log: Logger): Promise<RunningGateway> {
  const pool = createPool({
    connectionString: databaseUrl,
    max: config.telemetry.dbPoolMax,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    log,
    name: "telemetry",
  });
  // The device-facing server certificate (the agent endpoint's: same names, same CA devices trust) and the bundle the
  // devices' client certificates chain to.
  const pki = await ensurePki(config.dataDir, serverNames(config.api.sans));
  try {
    const gw = await startTelemetryGateway({
      settings: config.telemetry,
      pool,
      tls: { server: pki.agentServer, caBundlePem: readFileSync(pki.bundlePath, "utf8") },
      log,
    });
    return {
      ...gw,
      async close() {
        await gw.close();
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
  runProcess(
    "flightctl-telemetry-gateway",
    async (config, log) => (await startGatewayProcess(config, requireDatabaseUrl(config, log), log)).close,
  );

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

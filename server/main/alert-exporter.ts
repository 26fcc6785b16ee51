// flightctl-alert-exporter: turns events into alerts and posts them to Alertmanager (server/alerts/exporter.ts). Run
// directly (several copies: one exports, the others wait to take over), or started by all-in-one.ts when
// FLIGHTCTL_ALERTMANAGER_URL is set. It needs the API's database.
import { pathToFileURL } from "node:url";
import type { Logger } from "pino";
import type { ServerConfig } from "../config.js";
import { startAlertExporter, type AlertExporter } from "../alerts/exporter.js";
import { requireDatabaseUrl, runProcess } from "./process.js";

/** Starts the exporter from the configuration; undefined when no Alertmanager URL is configured. */
export async function startAlertExporterProcess(
  config: ServerConfig,
  databaseUrl: string,
  log: Logger,
): Promise<AlertExporter | undefined> {
  const url = config.alerts.alertmanagerUrl;
  if (!url) return undefined;
  return startAlertExporter({
    settings: { ...config.alerts.exporter, alertmanagerUrl: url },
    databaseUrl,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    log,
  });
}

/** Runs the process from its configuration (also the bin entry point). */
export const main = () =>
  runProcess("flightctl-alert-exporter", async (config, log) => {
    const exporter = await startAlertExporterProcess(config, requireDatabaseUrl(config, log), log);
    if (!exporter) {
      log.fatal("FLIGHTCTL_ALERTMANAGER_URL is required (e.g. http://alertmanager:9093)");
      process.exit(2);
    }
    log.info({ alertmanager: config.alerts.alertmanagerUrl, port: exporter.port }, "alert exporter started");
    return exporter.close;
  });

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

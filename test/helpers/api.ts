// The real API server (both endpoints, real sockets) on a fresh database, trusting a test OIDC issuer.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApi, type RunningApi } from "../../server/main/api.js";
import { createLogger } from "../../server/platform/logger.js";
import { createTestDatabase, type TestDatabase } from "./db.js";
import { startTestIssuer, type TestIssuer } from "./oidc.js";

export interface TestApi {
  api: RunningApi;
  db: TestDatabase;
  issuer: TestIssuer;
  dataDir: string;
  /** Stops the server (idempotent), the issuer, and drops the database. */
  close(): Promise<void>;
}

export async function startTestApi(): Promise<TestApi> {
  const db = await createTestDatabase();
  const issuer = await startTestIssuer();
  const dataDir = mkdtempSync(join(tmpdir(), "fc-api-"));
  chmodSync(dataDir, 0o755);
  const api = await startApi({
    databaseUrl: db.url,
    dataDir,
    address: "127.0.0.1:0",
    agentAddress: "127.0.0.1:0",
    authProviders: [issuer.provider()],
    log: createLogger("test", "error"),
  });
  return {
    api,
    db,
    issuer,
    dataDir,
    async close() {
      await api.close();
      await issuer.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

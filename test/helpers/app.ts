// An in-process app on a fresh database, called through Connect's router transport (no sockets).
import { createRouterTransport, type Transport } from "@connectrpc/connect";
import pino from "pino";
import { createApp, type App } from "../../server/app.js";
import { createTestDatabase, type TestDatabase } from "./db.js";

export interface TestApp {
  app: App;
  db: TestDatabase;
  transport: Transport;
  close(): Promise<void>;
}

export async function startTestApp(): Promise<TestApp> {
  const db = await createTestDatabase();
  const app = createApp({ pool: db.pool, log: pino({ level: process.env.LOG_LEVEL ?? "error" }, pino.destination(2)) });
  const transport = createRouterTransport(app.register, {
    router: { interceptors: app.interceptors, jsonOptions: { ignoreUnknownFields: false } },
  });
  return { app, db, transport, close: () => db.drop() };
}

// An in-process app on a fresh database, called through Connect's router transport (no sockets). By default every
// call is a super admin's; pass `authenticator` to test authentication itself.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRouterTransport, type Transport } from "@connectrpc/connect";
import pino from "pino";
import { createApp, type App, type AppDeps } from "../../server/app.js";
import type { Authenticator } from "../../server/auth/authenticator.js";
import type { UserIdentity } from "../../server/platform/identity.js";
import { unauthenticated } from "../../server/platform/errors.js";
import { ensurePki } from "../../server/platform/pki/ca.js";
import { createTestDatabase, type TestDatabase } from "./db.js";

export interface TestApp {
  app: App & { agent: App };
  db: TestDatabase;
  transport: Transport;
  /** The test PKI's directory (root CA, client signer, server certificates). */
  pkiDir: string;
  close(): Promise<void>;
}

/** A user identity as the authenticator would produce it. */
export function testUser(
  username: string,
  roles: UserIdentity["roles"],
  organizations = ["default"],
  orgRoles: UserIdentity["orgRoles"] = {},
): UserIdentity {
  return {
    kind: "user",
    actor: `user:${username}`,
    username,
    uid: username,
    issuer: "test",
    roles,
    orgRoles,
    organizations,
    superAdmin: roles.includes("admin"),
    rawRoles: roles.map((r) => `flightctl-${r}`),
  };
}

/** Authenticates every request as `user` (for tests of what happens after authentication). */
export function fixedAuthenticator(user: UserIdentity): Authenticator {
  return {
    authenticate: async () => user,
    tokenEndpoint: async (name) => {
      throw unauthenticated(`no provider "${name}"`);
    },
  };
}

export interface TestAppOptions
  extends Partial<
    Pick<
      AppDeps,
      | "authenticator"
      | "csrAutoApprove"
      | "staticAuthProviders"
      | "fetch"
      | "rateLimits"
      | "tokenPolicy"
      | "prometheusUrl"
      | "alertmanagerUrl"
    >
  > {
  /** Authenticate bearer tokens for real (against staticAuthProviders and AuthProvider resources). */
  realAuth?: boolean;
}

export async function startTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const db = await createTestDatabase();
  const pkiDir = mkdtempSync(join(tmpdir(), "fc-pki-"));
  const pki = await ensurePki(pkiDir, ["localhost", "127.0.0.1"]);
  const app = createApp({
    pool: db.pool,
    log: pino({ level: process.env.LOG_LEVEL ?? "error" }, pino.destination(2)),
    ca: { clientSigner: pki.clientSigner, bundlePem: readFileSync(pki.bundlePath, "utf8") },
    agentEndpointUrl: "https://localhost:7443",
    authenticator: opts.realAuth ? undefined : (opts.authenticator ?? fixedAuthenticator(testUser("admin", ["admin"]))),
    csrAutoApprove: opts.csrAutoApprove,
    staticAuthProviders: opts.staticAuthProviders,
    fetch: opts.fetch,
    rateLimits: opts.rateLimits,
    tokenPolicy: opts.tokenPolicy,
    prometheusUrl: opts.prometheusUrl,
    alertmanagerUrl: opts.alertmanagerUrl,
  });
  const transport = createRouterTransport(app.register, {
    router: { interceptors: app.interceptors, jsonOptions: { ignoreUnknownFields: false } },
  });
  return {
    app,
    db,
    transport,
    pkiDir,
    close: async () => {
      // Open streams (watches) end before their database goes.
      app.drain?.();
      rmSync(pkiDir, { recursive: true, force: true });
      await db.drop();
    },
  };
}

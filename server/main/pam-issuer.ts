// flightctl-pam-issuer: the built-in OIDC provider as its own process. Environment:
//   FLIGHTCTL_PAM_ISSUER_ADDRESS   listen host:port (default 0.0.0.0:8444)
//   FLIGHTCTL_PAM_ISSUER_URL       public issuer URL (default https://localhost:<port>/api/v1/auth)
//   FLIGHTCTL_DATA_DIR             signing key in <dir>/pam-issuer/, default TLS files in <dir>/certs/ (default .data)
//   FLIGHTCTL_PAM_ISSUER_TLS_CERT / _KEY   PEM files (default <dataDir>/certs/server.crt|key)
//   FLIGHTCTL_PAM_SERVICE          PAM service, a file in /etc/pam.d (default flightctl)
//   FLIGHTCTL_PAM_REDIRECT_URIS    comma list (default http://127.0.0.1:7777/callback)
//   FLIGHTCTL_PAM_CLIENT_ID / _CLIENT_SECRET   OAuth2 client (default flightctl-client, public)
//   LOG_LEVEL
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createLogger } from "../platform/logger.js";
import { startPamIssuer } from "../pam-issuer/issuer.js";
import { closeOnSignals } from "./api.js";

export { createPamIssuer, startPamIssuer, type PamIssuerOptions, type StartPamIssuerOptions } from "../pam-issuer/issuer.js";

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read the TLS ${what} ${file} (set FLIGHTCTL_PAM_ISSUER_TLS_CERT/_KEY): ${(err as Error).message}`);
  }
}

/** Runs the process from environment settings (also the bin entry point). */
export async function main() {
  const log = createLogger("flightctl-pam-issuer");
  try {
    const env = process.env;
    const dataDir = resolve(env.FLIGHTCTL_DATA_DIR ?? ".data");
    const address = env.FLIGHTCTL_PAM_ISSUER_ADDRESS ?? "0.0.0.0:8444";
    const port = /:(\d+)$/.exec(address)?.[1] ?? "8444";
    const issuer = await startPamIssuer({
      issuerUrl: env.FLIGHTCTL_PAM_ISSUER_URL ?? `https://localhost:${port}/api/v1/auth`,
      dataDir,
      clientId: env.FLIGHTCTL_PAM_CLIENT_ID || "flightctl-client",
      clientSecret: env.FLIGHTCTL_PAM_CLIENT_SECRET || undefined,
      redirectUris: (env.FLIGHTCTL_PAM_REDIRECT_URIS ?? "http://127.0.0.1:7777/callback")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
      pamService: env.FLIGHTCTL_PAM_SERVICE || "flightctl",
      address,
      tls: {
        cert: readPem(env.FLIGHTCTL_PAM_ISSUER_TLS_CERT ?? join(dataDir, "certs", "server.crt"), "certificate"),
        key: readPem(env.FLIGHTCTL_PAM_ISSUER_TLS_KEY ?? join(dataDir, "certs", "server.key"), "key"),
      },
      log,
    });
    closeOnSignals(issuer.close, log);
  } catch (err) {
    log.fatal({ err }, "cannot start");
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

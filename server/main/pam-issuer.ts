// flightctl-pam-issuer: the built-in OIDC provider as its own process.
//   FLIGHTCTL_PAM_ISSUER_ADDRESS (default 0.0.0.0:8444), FLIGHTCTL_PAM_ISSUER_URL (default
//   https://localhost:<port>/api/v1/auth), FLIGHTCTL_DATA_DIR (default .data; signing key and, unless
//   FLIGHTCTL_PAM_ISSUER_TLS_CERT/KEY are set, the server certificate from certs/), FLIGHTCTL_PAM_SERVICE (default
//   flightctl), FLIGHTCTL_PAM_REDIRECT_URIS (comma list), FLIGHTCTL_PAM_CLIENT_ID, FLIGHTCTL_PAM_CLIENT_SECRET, LOG_LEVEL
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createLogger } from "../platform/logger.js";
import { startPamIssuer } from "../pam-issuer/issuer.js";
import { closeOnSignals, parseAddress } from "./api.js";

/** Runs the process from environment settings (also the bin entry point). */
export async function main() {
  const log = createLogger("flightctl-pam-issuer");
  try {
    const dataDir = resolve(process.env.FLIGHTCTL_DATA_DIR ?? ".data");
    const { host, port } = parseAddress(process.env.FLIGHTCTL_PAM_ISSUER_ADDRESS ?? "0.0.0.0:8444");
    const certFile = process.env.FLIGHTCTL_PAM_ISSUER_TLS_CERT ?? join(dataDir, "certs", "server.crt");
    const keyFile = process.env.FLIGHTCTL_PAM_ISSUER_TLS_KEY ?? join(dataDir, "certs", "server.key");
    const issuer = await startPamIssuer({
      issuerUrl: process.env.FLIGHTCTL_PAM_ISSUER_URL ?? `https://localhost:${port}/api/v1/auth`,
      dataDir,
      clientId: process.env.FLIGHTCTL_PAM_CLIENT_ID ?? "flightctl-client",
      clientSecret: process.env.FLIGHTCTL_PAM_CLIENT_SECRET || undefined,
      redirectUris: (process.env.FLIGHTCTL_PAM_REDIRECT_URIS ?? "http://127.0.0.1:7777/callback").split(",").map((s) => s.trim()).filter(Boolean),
      pamService: process.env.FLIGHTCTL_PAM_SERVICE ?? "flightctl",
      host,
      port,
      tls: { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") },
      log,
    });
    closeOnSignals(issuer.close, log);
  } catch (err) {
    log.fatal({ err }, "cannot start");
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

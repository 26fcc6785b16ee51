// flightctl-pam-issuer: the built-in OIDC provider as its own process. Its settings come from server/config.ts
// (FLIGHTCTL_DATA_DIR, FLIGHTCTL_PAM_*, LOG_LEVEL; docs/server.md lists them).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { startPamIssuer } from "../pam-issuer/issuer.js";
import { runProcess } from "./process.js";

export { createPamIssuer, startPamIssuer, type PamIssuerOptions, type StartPamIssuerOptions } from "../pam-issuer/issuer.js";

/** Redirect URIs allowed when FLIGHTCTL_PAM_REDIRECT_URIS is unset: the CLI's login callback. */
const DEFAULT_REDIRECT_URIS = ["http://127.0.0.1:7777/callback"];

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read the TLS ${what} ${file} (set FLIGHTCTL_PAM_ISSUER_TLS_CERT/_KEY): ${(err as Error).message}`);
  }
}

/** The public issuer URL: the configured one, else https://localhost:<listen port>/api/v1/auth. */
export const issuerUrlOf = (settings: { url?: string; address: string }) =>
  settings.url ?? `https://localhost:${/:(\d+)$/.exec(settings.address)?.[1]}/api/v1/auth`;

/** Runs the process from its configuration (also the bin entry point). */
export const main = () =>
  runProcess("flightctl-pam-issuer", async ({ dataDir, pamIssuer: s, rateLimits, tokens }, log) => {
    const issuer = await startPamIssuer({
      issuerUrl: issuerUrlOf(s),
      dataDir,
      clientId: s.clientId,
      clientSecret: s.clientSecret,
      redirectUris: s.redirectUris ?? DEFAULT_REDIRECT_URIS,
      pamService: s.service,
      address: s.address,
      rateLimits,
      clockSkewSec: tokens.clockSkewSec,
      tls: {
        cert: readPem(s.tlsCert ?? join(dataDir, "certs", "server.crt"), "certificate"),
        key: readPem(s.tlsKey ?? join(dataDir, "certs", "server.key"), "key"),
      },
      log,
    });
    return issuer.close;
  });

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

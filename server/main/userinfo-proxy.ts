// flightctl-userinfo-proxy: AAP's /api/gateway/v1/me/ as an OIDC UserInfo endpoint (server/userinfo-proxy/proxy.ts).
// Its settings come from server/config.ts (FLIGHTCTL_USERINFO_*, LOG_LEVEL; docs/server.md lists them).
import { readFileSync } from "node:fs";
import { createAuthFetch } from "../auth/http-client.js";
import { startUserinfoProxy } from "../userinfo-proxy/proxy.js";
import { parseAddress } from "./api.js";
import { runProcess } from "./process.js";
import { pathToFileURL } from "node:url";

export { startUserinfoProxy, userInfoOf } from "../userinfo-proxy/proxy.js";

/** Runs the process from its configuration (also the bin entry point). */
export const main = () =>
  runProcess("flightctl-userinfo-proxy", async ({ userinfoProxy: s }, log) => {
    if (!s.upstreamUrl) {
      log.fatal("FLIGHTCTL_USERINFO_UPSTREAM_URL is required (AAP's /api/gateway/v1/me/ URL)");
      process.exit(2);
    }
    const ca = s.caFile ? [readFileSync(s.caFile, "utf8")] : [];
    const { host, port } = parseAddress(s.address);
    const proxy = await startUserinfoProxy({
      upstreamUrl: s.upstreamUrl,
      fetch: createAuthFetch(ca, 10_000, s.insecureSkipTlsVerify),
      host,
      port,
      log,
    });
    log.info({ port: proxy.port, upstream: s.upstreamUrl }, "flightctl-userinfo-proxy listening");
    return proxy.close;
  });

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

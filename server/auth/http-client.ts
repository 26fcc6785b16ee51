// Outbound HTTP for authentication (OIDC discovery, JWKS, token exchange, introspection) with the service's own CA
// trusted besides the system ones: the built-in issuer's certificate comes from that CA. A fetch-shaped function so
// jose can use it for JWKS.
import http from "node:http";
import https from "node:https";
import { rootCertificates } from "node:tls";

export type FetchLike = (
  url: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<Response>;

const MAX_BODY = 1 << 20;

/**
 * A fetch that trusts the system CAs plus `extraCaPem`, times out after `timeoutMs` and caps bodies at 1 MiB.
 * `insecureSkipTlsVerify` accepts any server certificate (an operator's explicit choice, e.g. a lab AAP).
 */
export function createAuthFetch(extraCaPem: string[] = [], timeoutMs = 10_000, insecureSkipTlsVerify = false): FetchLike {
  const ca = [...rootCertificates, ...extraCaPem];
  return (url, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const u = new URL(url);
      const mod = u.protocol === "https:" ? https : u.protocol === "http:" ? http : undefined;
      if (!mod) return reject(new Error(`unsupported URL scheme in ${url}`));
      const req = mod.request(
        u,
        {
          method: init.method ?? "GET",
          headers: init.headers,
          ca,
          rejectUnauthorized: !insecureSkipTlsVerify,
          timeout: timeoutMs,
          signal: init.signal,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > MAX_BODY) req.destroy(new Error(`response from ${u.origin} exceeds 1 MiB`));
            else chunks.push(c);
          });
          res.on("end", () => {
            const headers = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers.set(k, v);
            const status = res.statusCode ?? 500;
            resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers }));
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${u.origin} did not answer within ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end(init.body);
    });
}

/** GETs JSON, with an error that names the URL. */
export async function getJson(fetchImpl: FetchLike, url: string): Promise<Record<string, unknown>> {
  const res = await fetchImpl(url, { headers: { accept: "application/json" } });
  if (res.status !== 200) throw new Error(`${url} answered HTTP ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

// The http config provider: `httpRef{repository, suffix, filePath}` renders as one file at `filePath` holding the body
// of GET <repository url><suffix>, with the repository's credentials and TLS settings. The body is frozen per
// template version (or per standalone device spec generation): fetched once, then every device and every re-render of
// that version gets the same bytes, even if the server changes meanwhile.
import { createHash } from "node:crypto";
import https from "node:https";
import http from "node:http";
import { rootCertificates } from "node:tls";
import type { RepositorySpecJson } from "../../gen/flightctl/v1beta1/repository_pb.js";
import type { Db } from "../platform/resource/resource-store.js";
import type { ContentCache } from "../platform/content-cache.js";
import { RenderError, type ConfigResolver } from "../devices/renderer.js";
import { loadRepositories, repositoryProblem } from "./repository-refs.js";

/** Largest body accepted from an http config provider. */
export const HTTP_CONFIG_MAX_BYTES = 1024 * 1024;
const TIMEOUT_MS = 30_000;

/** What an http request reads of a Repository's spec: the URL and the credentials and TLS settings. */
export type HttpRepo = Pick<RepositorySpecJson, "url" | "httpConfig">;

/** flightctl keeps certificates in repositories as base64 of the PEM. */
const pem = (b64?: string) => (b64 ? Buffer.from(b64, "base64").toString("utf8") : undefined);

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpRequestOptions {
  /** Idle timeout, ms (default 30 s). */
  timeoutMs?: number;
  /** Largest body kept (default HTTP_CONFIG_MAX_BYTES); a larger one fails the request. */
  maxBytes?: number;
  /** Only the status and headers matter (an access check): the body is not read. */
  headersOnly?: boolean;
  /** Extra request headers (they win over the repository's credentials). */
  headers?: Record<string, string>;
  /** GET (default) or HEAD (an OCI registry's manifest check). */
  method?: "GET" | "HEAD";
}

/**
 * GET (or HEAD) `url` with the repository's credentials and TLS settings (its CA is trusted besides the system ones); any status
 * resolves. Rejects, with a message naming the URL but never a credential, when there is no answer.
 */
export function httpRequest(url: string, repo: HttpRepo, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  const cfg = repo.httpConfig ?? {};
  const headers: Record<string, string> = {};
  if (cfg.token) headers.authorization = `Bearer ${cfg.token}`;
  else if (cfg.username !== undefined)
    headers.authorization = `Basic ${Buffer.from(`${cfg.username}:${cfg.password ?? ""}`).toString("base64")}`;
  Object.assign(headers, opts.headers);
  const timeoutMs = opts.timeoutMs ?? TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? HTTP_CONFIG_MAX_BYTES;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.reject(new Error(`"${url}" is not a valid URL`));
  }
  const client = u.protocol === "https:" ? https : u.protocol === "http:" ? http : undefined;
  if (!client) return Promise.reject(new Error(`unsupported URL scheme "${u.protocol}"`));
  const extraCa = pem(cfg["ca.crt"]);
  return new Promise((resolve, reject) => {
    const method = opts.method ?? "GET";
    const req = client.request(
      u,
      {
        method,
        headers,
        timeout: timeoutMs,
        agent: false,
        ...(u.protocol === "https:"
          ? {
              ca: extraCa ? [...rootCertificates, extraCa] : undefined,
              cert: pem(cfg["tls.crt"]),
              key: pem(cfg["tls.key"]),
              rejectUnauthorized: !cfg.skipServerVerification,
            }
          : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (opts.headersOnly || method === "HEAD") {
          res.destroy();
          return resolve({ status, headers: res.headers, body: Buffer.alloc(0) });
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) {
            req.destroy();
            reject(new Error(`${method} ${url}: the body is larger than ${maxBytes} bytes`));
          } else chunks.push(c);
        });
        res.on("end", () => resolve({ status, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", (e) => reject(new Error(`${method} ${url}: ${e.message}`)));
      },
    );
    req.on("timeout", () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: "ETIMEDOUT" })));
    // The system error stays reachable as `cause` (its code tells refused from not found from TLS).
    req.on("error", (e) => reject(new Error(`${method} ${url}: ${e.message}`, { cause: e })));
    req.end();
  });
}

/** GET `url` with the repository's settings; resolves to the body of a 2xx answer, rejects with a message a person can act on. */
export async function httpGet(url: string, repo: HttpRepo, opts: Omit<HttpRequestOptions, "headersOnly"> = {}): Promise<Buffer> {
  const res = await httpRequest(url, repo, opts);
  if (res.status < 200 || res.status >= 300) throw new Error(`GET ${url} answered ${res.status}${statusHint(res.status)}`);
  return res.body;
}

/** A network failure in a few words, with the system's code for searching. */
export function describeNetworkError(e: unknown): string {
  const err = e as Error & { code?: string; cause?: Error & { code?: string } };
  const code = err.cause?.code ?? err.code ?? "";
  const detail = err.cause?.message ?? err.message;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `host not found (${detail})`;
  if (code === "ECONNREFUSED") return `connection refused (${detail})`;
  if (code === "ECONNRESET") return `connection reset (${detail})`;
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return `host unreachable (${detail})`;
  if (/CERT|SELF_SIGNED|TLS|SSL|UNABLE_TO_VERIFY|ALTNAME/.test(code)) return `TLS error: ${detail}`;
  return err.message;
}

/** What a failing status usually means, for messages. */
export const statusHint = (status: number) =>
  status === 401 || status === 403 ? " (check the repository's credentials)" : status === 404 ? " (not found)" : "";

export function createHttpConfigResolver(db: Db, cache: ContentCache): ConfigResolver {
  return async (provider, ctx) => {
    const ref = provider.httpRef ?? {};
    const where = `config provider "${String(provider.name)}"`;
    const repo = (await loadRepositories(db, ctx.orgId, [ref.repository ?? ""])).get(ref.repository ?? "");
    const problem = repositoryProblem(ref.repository ?? "", repo, "http");
    if (problem) throw new RenderError(`${where}: ${problem}`);
    const spec = repo!.spec;
    const url = `${spec.url}${ref.suffix ?? ""}`;
    const key = `http:${ctx.orgId}:${ctx.freezeKey ?? `device:${ctx.device}`}:${createHash("sha256").update(url).digest("hex")}`;
    let body: Buffer;
    try {
      body = await cache.getOrLoad(key, () => httpGet(url, spec));
    } catch (e) {
      throw new RenderError(`${where}: ${(e as Error).message}`);
    }
    return [{ path: ref.filePath ?? "", content: body.toString("base64"), contentEncoding: "base64" }];
  };
}

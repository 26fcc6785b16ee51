// The http config provider: `httpRef{repository, suffix, filePath}` renders as one file at `filePath` holding the body
// of GET <repository url><suffix>, with the repository's credentials and TLS settings. The body is frozen per
// template version (or per standalone device spec generation): fetched once, then every device and every re-render of
// that version gets the same bytes, even if the server changes meanwhile.
import { createHash } from "node:crypto";
import https from "node:https";
import http from "node:http";
import type { JsonObject } from "@bufbuild/protobuf";
import { sql } from "drizzle-orm";
import type { Db } from "../platform/resource/resource-store.js";
import type { ContentCache } from "../platform/content-cache.js";
import { RenderError, type ConfigResolver } from "../devices/renderer.js";

/** Largest body accepted from an http config provider. */
export const HTTP_CONFIG_MAX_BYTES = 1024 * 1024;
const TIMEOUT_MS = 30_000;

interface HttpRepo {
  url: string;
  httpConfig?: { username?: string; password?: string; token?: string; "tls.crt"?: string; "tls.key"?: string; "ca.crt"?: string; skipServerVerification?: boolean };
}

/** flightctl keeps certificates in repositories as base64 of the PEM. */
const pem = (b64?: string) => (b64 ? Buffer.from(b64, "base64").toString("utf8") : undefined);

/** GET `url` with the repository's settings; resolves to the body, rejects with a message a person can act on. */
export function httpGet(url: string, repo: HttpRepo): Promise<Buffer> {
  const cfg = repo.httpConfig ?? {};
  const headers: Record<string, string> = {};
  if (cfg.token) headers.authorization = `Bearer ${cfg.token}`;
  else if (cfg.username !== undefined) headers.authorization = `Basic ${Buffer.from(`${cfg.username}:${cfg.password ?? ""}`).toString("base64")}`;
  const u = new URL(url);
  const client = u.protocol === "https:" ? https : u.protocol === "http:" ? http : undefined;
  if (!client) return Promise.reject(new Error(`unsupported URL scheme "${u.protocol}"`));
  return new Promise((resolve, reject) => {
    const req = client.get(
      u,
      {
        headers,
        timeout: TIMEOUT_MS,
        ...(u.protocol === "https:"
          ? { ca: pem(cfg["ca.crt"]), cert: pem(cfg["tls.crt"]), key: pem(cfg["tls.key"]), rejectUnauthorized: !cfg.skipServerVerification }
          : {}),
      },
      (res) => {
        if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) {
          res.resume();
          return reject(new Error(`GET ${url} answered ${res.statusCode}${res.statusCode === 401 || res.statusCode === 403 ? " (check the repository's credentials)" : ""}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > HTTP_CONFIG_MAX_BYTES) {
            req.destroy();
            reject(new Error(`GET ${url}: the body is larger than ${HTTP_CONFIG_MAX_BYTES} bytes`));
          } else chunks.push(c);
        });
        res.on("end", () => resolve(Buffer.concat(chunks)));
        res.on("error", (e) => reject(new Error(`GET ${url}: ${e.message}`)));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on("error", (e) => reject(new Error(e.message.startsWith("GET ") ? e.message : `GET ${url}: ${e.message}`)));
  });
}

export function createHttpConfigResolver(db: Db, cache: ContentCache): ConfigResolver {
  return async (provider, ctx) => {
    const ref = (provider.httpRef ?? {}) as { repository?: string; suffix?: string; filePath?: string };
    const where = `config provider "${String(provider.name)}"`;
    const r = await db.execute(sql`select spec from repositories where org_id = ${ctx.orgId} and name = ${ref.repository ?? ""}`);
    const repo = (r.rows[0] as { spec: JsonObject } | undefined)?.spec as (HttpRepo & { type?: string }) | undefined;
    if (!repo) throw new RenderError(`${where}: repository "${ref.repository}" does not exist`);
    if (repo.type !== "http") throw new RenderError(`${where}: repository "${ref.repository}" is of type ${repo.type}, not http`);
    const url = `${repo.url}${ref.suffix ?? ""}`;
    const key = `http:${ctx.orgId}:${ctx.freezeKey ?? `device:${ctx.device}`}:${createHash("sha256").update(url).digest("hex")}`;
    let body: Buffer;
    try {
      body = await cache.getOrLoad(key, () => httpGet(url, repo));
    } catch (e) {
      throw new RenderError(`${where}: ${(e as Error).message}`);
    }
    return [{ path: ref.filePath ?? "", content: body.toString("base64"), contentEncoding: "base64" }];
  };
}

// Serves the web UI's build (web/dist) on the user endpoint, same origin as the API so the browser needs no CORS.
// Hashed assets (/assets/*) are cached for a year; everything else is revalidated. Any other GET that is not an RPC
// path gets index.html, so the UI's client-side routes (/devices/x) survive a reload. Files are read once and kept
// in memory with their gzip form (a build is a handful of files), re-read when their mtime changes.
import { readFileSync, statSync, type Stats } from "node:fs";
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { extname, join, normalize, sep } from "node:path";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";

type Req = IncomingMessage | Http2ServerRequest;
/** What is used of a response: the head and one body (either protocol's response object fits). */
type Res = {
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  end(body: string | Uint8Array): unknown;
  end(): unknown;
};

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json",
};

/** The UI talks only to its own origin; the login page of the identity provider is a top-level navigation. */
const HTML_HEADERS = {
  "content-security-policy":
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

interface Cached {
  mtimeMs: number;
  body: Buffer;
  gzip?: Buffer;
  etag: string;
}

/** A request handler: true when it answered (a UI file or the SPA shell), false to let the caller answer. */
export type WebHandler = (req: Req, res: Res) => boolean;

/** Serves `root` (a vite build). RPC paths ("/pkg.Service/Method") are never answered here. */
export function createWebStatic(root: string): WebHandler {
  const cache = new Map<string, Cached>();

  function load(file: string): Cached | undefined {
    let st: Stats;
    try {
      st = statSync(file);
    } catch {
      return undefined;
    }
    if (!st.isFile()) return undefined;
    const hit = cache.get(file);
    if (hit && hit.mtimeMs === st.mtimeMs) return hit;
    const body = readFileSync(file);
    const compressible = /^(text\/|application\/json|image\/svg)/.test(TYPES[extname(file)] ?? "");
    const entry: Cached = {
      mtimeMs: st.mtimeMs,
      body,
      gzip: compressible && body.length > 512 ? gzipSync(body) : undefined,
      etag: `"${createHash("sha1").update(body).digest("base64url").slice(0, 20)}"`,
    };
    cache.set(file, entry);
    return entry;
  }

  function send(req: Req, res: Res, file: string, entry: Cached, cacheControl: string, extra: Record<string, string> = {}) {
    const headers: Record<string, string> = {
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      "cache-control": cacheControl,
      etag: entry.etag,
      vary: "accept-encoding",
      "x-content-type-options": "nosniff",
      ...extra,
    };
    if (req.headers["if-none-match"] === entry.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const gz = entry.gzip && /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
    const body = gz ? entry.gzip! : entry.body;
    if (gz) headers["content-encoding"] = "gzip";
    headers["content-length"] = String(body.length);
    res.writeHead(200, headers);
    if (req.method === "HEAD") res.end();
    else res.end(body);
  }

  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    let path: string;
    try {
      path = decodeURIComponent((req.url ?? "/").split("?")[0]);
    } catch {
      return false;
    }
    // "/flightctl.v1beta1.DeviceService/GetDevice" and friends: a GET to an unknown RPC stays a 404.
    if (/^\/[\w]+(\.[\w]+)+\//.test(path) || path.includes("\0")) return false;
    const rel = normalize(path).replace(/^([/\\])+/, "");
    const file = join(root, rel);
    if (rel.startsWith("..") || !(file === root || file.startsWith(root + sep))) return false;
    const asset = rel !== "" && rel !== "index.html" ? load(file) : undefined;
    if (asset) {
      const immutable = rel.startsWith(`assets${sep}`);
      send(
        req,
        res,
        file,
        asset,
        immutable ? "public, max-age=31536000, immutable" : "no-cache",
        extname(file) === ".html" ? HTML_HEADERS : {},
      );
      return true;
    }
    // A missing file with an extension (a stale hashed asset, a typo) is a 404, not the shell.
    if (extname(rel) && !rel.endsWith(".html")) return false;
    const indexFile = join(root, "index.html");
    const index = load(indexFile);
    if (!index) {
      res.writeHead(503, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
      res.end("The web UI is not built: run `npm run build:web` (npm start does it).\n");
      return true;
    }
    send(req, res, indexFile, index, "no-cache", HTML_HEADERS);
    return true;
  };
}

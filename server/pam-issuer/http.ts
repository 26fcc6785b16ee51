// Request/response plumbing shared by the issuer's endpoints.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/** An OAuth2 error: sent as {error, error_description} (or as an HTML page on browser endpoints). */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** A 429's delay: sent as Retry-After. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

const MAX_BODY = 64 * 1024;

/** A form-encoded or JSON body as string fields (anything else is dropped). */
export async function readBody(req: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new OAuthError(413, "invalid_request", "request body too large");
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (/^application\/json\b/i.test(req.headers["content-type"] ?? "")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new OAuthError(400, "invalid_request", "the body is not valid JSON");
    }
    if (typeof parsed !== "object" || parsed === null) throw new OAuthError(400, "invalid_request", "the body must be a JSON object");
    return Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === "string")) as Record<string, string>;
  }
  return Object.fromEntries(new URLSearchParams(text));
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", pragma: "no-cache", ...headers });
  res.end(JSON.stringify(body));
}

/**
 * `formTarget`: the redirect URI a login form's answer goes to. Chromium applies form-action to the redirects that
 * follow a form post, so the login page must allow the application's origin besides its own.
 */
export function sendHtml(res: ServerResponse, status: number, body: string, formTarget?: string) {
  const formAction = formTarget ? `'self' ${new URL(formTarget).origin}` : "'self'";
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "x-frame-options": "DENY", // no clickjacking of the login form
    "content-security-policy": `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}; frame-ancestors 'none'`,
    "referrer-policy": "no-referrer",
  });
  res.end(body);
}

export function redirect(res: ServerResponse, location: string) {
  res.writeHead(302, { location, "cache-control": "no-store" }).end();
}

export const randomId = () => randomBytes(32).toString("base64url");
export const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");
/** Constant-time string equality (compares hashes so lengths never leak). */
export const sameSecret = (a: string, b: string) =>
  timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
/** Failed logins are answered after ~0.5 s so guessing is slow and timing says little about why it failed. */
export const failDelay = () => new Promise((r) => setTimeout(r, 400 + Math.random() * 200));

/** Short-lived entries (pending logins, codes, used refresh tokens) in memory, swept once a minute. */
export class TtlMap<V> {
  private readonly m = new Map<string, { v: V; expires: number }>();
  private readonly sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, e] of this.m) if (e.expires <= now) this.m.delete(k);
  }, 60_000).unref(); // never keeps a process alive

  set(key: string, v: V, ttlMs: number) {
    this.m.set(key, { v, expires: Date.now() + ttlMs });
  }
  get(key: string): V | undefined {
    const e = this.m.get(key);
    return e && e.expires > Date.now() ? e.v : undefined;
  }
  /** Removes and returns the entry: one use only. */
  take(key: string): V | undefined {
    const v = this.get(key);
    this.m.delete(key);
    return v;
  }
  delete(key: string) {
    this.m.delete(key);
  }
  close() {
    clearInterval(this.sweep);
  }
}

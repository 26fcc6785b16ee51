// A small client of the OCI distribution API (v2) for one Repository of type oci: its registry, scheme, credentials
// (ociAuth) and TLS settings. It speaks the registry's auth flow: the credentials go as basic auth with the first
// request (registries with htpasswd-style auth accept them there); when the registry answers 401 with
// `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, a token is asked from that realm (with the credentials, or
// anonymously without them) for the scope and the request is sent again with it. No library in node_modules speaks
// this, and the calls needed (/v2/, a manifest, a tag list) are a few plain HTTP requests.
import type { RepositorySpecJson } from "../../gen/flightctl/v1beta1/repository_pb.js";
import { httpRequest, type HttpRepo, type HttpResponse } from "./http-config.js";

/** What a tag may resolve to: OCI index and manifest, Docker v2 manifest list and manifest. */
export const MANIFEST_MEDIA_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
];

/** Registry answers are small (errors, a one-tag list, a token): anything bigger is not what was asked for. */
const MAX_BODY = 256 * 1024;

export interface RegistryResponse extends HttpResponse {
  /** The URL that gave `status`: the registry's, or its token service's when that refused to hand out a token. */
  answeredBy: string;
  /** `status` is the token service's refusal (not the registry's answer to the request). */
  byTokenService: boolean;
  /** A token from the registry's token service was used (the credentials were checked there). */
  viaToken: boolean;
}

export interface OciRegistryClient {
  /** `<scheme>://<registry>`, for messages. */
  readonly base: string;
  /**
   * Sends `method path` (path starting with /v2/) with the repository's credentials, following a Bearer challenge
   * once. Any status resolves; rejects (message naming the URL, `cause` the system error) when nobody answers.
   */
  request(method: "GET" | "HEAD", path: string, opts?: { accept?: string[]; scope?: string }): Promise<RegistryResponse>;
}

/** The parameters of a `WWW-Authenticate: Bearer realm="…",service="…"` challenge; undefined for other schemes. */
export function bearerChallenge(header: string | string[] | undefined): Record<string, string> | undefined {
  const h = Array.isArray(header) ? header.find((x) => /^bearer\s/i.test(x)) : header;
  if (!h || !/^bearer\s/i.test(h)) return undefined;
  const params: Record<string, string> = {};
  for (const m of h.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params[m[1].toLowerCase()] = m[2];
  return params.realm ? params : undefined;
}

/** The token of a token service's JSON answer (`token`, or OAuth's `access_token`). */
function tokenOf(body: Buffer): string | undefined {
  try {
    const j = JSON.parse(body.toString("utf8")) as { token?: unknown; access_token?: unknown };
    const t = j.token ?? j.access_token;
    return typeof t === "string" && t ? t : undefined;
  } catch {
    return undefined;
  }
}

export function createOciRegistryClient(spec: RepositorySpecJson, opts: { timeoutMs: number }): OciRegistryClient {
  const base = `${spec.scheme === "http" ? "http" : "https"}://${String(spec.registry)}`;
  const tls = { "ca.crt": spec["ca.crt"], skipServerVerification: spec.skipServerVerification === true };
  const auth = spec.ociAuth;
  const creds = auth?.username !== undefined ? { username: auth.username, password: auth.password ?? "" } : {};
  // With credentials (first try, token service) and without them (a request carrying a bearer token).
  const withCreds: HttpRepo = { url: base, httpConfig: { ...tls, ...creds } };
  const bare: HttpRepo = { url: base, httpConfig: tls };
  const tokens = new Map<string, string>();
  const send = (method: "GET" | "HEAD", url: string, repo: HttpRepo, headers: Record<string, string>) =>
    httpRequest(url, repo, { method, headers, timeoutMs: opts.timeoutMs, maxBytes: MAX_BODY });

  return {
    base,
    async request(method, path, { accept, scope } = {}) {
      const url = `${base}${path}`;
      const headers: Record<string, string> = accept ? { accept: accept.join(", ") } : {};
      const key = scope ?? "";
      const cached = tokens.get(key);
      const first = cached
        ? await send(method, url, bare, { ...headers, authorization: `Bearer ${cached}` })
        : await send(method, url, withCreds, headers);
      if (first.status !== 401) return { ...first, answeredBy: url, byTokenService: false, viaToken: !!cached };
      const challenge = bearerChallenge(first.headers["www-authenticate"]);
      // A Basic challenge: the credentials (if any) were sent already and refused.
      if (!challenge) return { ...first, answeredBy: url, byTokenService: false, viaToken: false };
      const realm = new URL(challenge.realm);
      if (challenge.service) realm.searchParams.set("service", challenge.service);
      // The scope the registry asks for names what it wants for this request; ours is the fallback.
      const wanted = challenge.scope ?? scope;
      if (wanted) realm.searchParams.set("scope", wanted);
      const tokenRes = await send("GET", realm.toString(), { ...withCreds, url: realm.toString() }, {});
      const token = tokenRes.status >= 200 && tokenRes.status < 300 ? tokenOf(tokenRes.body) : undefined;
      if (!token) {
        // Refused (or an answer without a token, reported as the refusal it amounts to).
        const status = tokenRes.status >= 200 && tokenRes.status < 300 ? 401 : tokenRes.status;
        return { ...tokenRes, status, answeredBy: `${realm.origin}${realm.pathname}`, byTokenService: true, viaToken: true };
      }
      tokens.set(key, token);
      const again = await send(method, url, bare, { ...headers, authorization: `Bearer ${token}` });
      return { ...again, answeredBy: url, byTokenService: false, viaToken: true };
    },
  };
}

/** The first error of a registry's JSON error body (`{"errors":[{"code","message"}]}`), as "CODE: message". */
export function registryError(body: Buffer): string | undefined {
  try {
    const e = (JSON.parse(body.toString("utf8")) as { errors?: { code?: unknown; message?: unknown }[] }).errors?.[0];
    if (!e) return undefined;
    return [e.code, e.message].filter((x) => typeof x === "string" && x).join(": ") || undefined;
  } catch {
    return undefined;
  }
}

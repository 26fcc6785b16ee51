// Whether a repository can be reached with its settings, and if not, why, in words a person can act on: git asks the
// remote for its refs (ls-remote), http GETs url + validationSuffix, oci asks the registry's /v2/ endpoint (and its
// token service when credentials are configured). Secrets never appear in what it says.
import type { RepositorySpecJson } from "../../gen/flightctl/v1beta1/repository_pb.js";
import { GitError, type GitClient } from "./git.js";
import { httpRequest, type HttpRepo } from "./http-config.js";

export interface AccessResult {
  accessible: boolean;
  /** Why (inaccessible), or what answered (accessible). */
  message: string;
}

/** Per request: an unreachable host must not hold the tester (flightctl's examples point at hosts we cannot reach). */
export const TEST_TIMEOUT_MS = 10_000;

/** Replaces every secret of `spec` (and any password in a URL) in `message` with "*****". */
export function redact(message: string, spec: RepositorySpecJson): string {
  const secrets: string[] = [];
  const http = spec.httpConfig ?? {};
  const ssh = spec.sshConfig ?? {};
  const oci = spec.ociAuth ?? {};
  for (const v of [http.password, http.token, http["tls.key"], ssh.sshPrivateKey, ssh.privateKeyPassphrase, oci.password]) {
    if (typeof v === "string" && v.length >= 3) secrets.push(v);
  }
  let out = message.replace(/\/\/([^/:@\s]+):[^/@\s]*@/g, "//$1:*****@");
  for (const s of secrets) out = out.split(s).join("*****");
  return out;
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

function statusProblem(what: string, status: number): string {
  if (status === 401 || status === 403) return `authentication failed: ${what} answered ${status}`;
  if (status === 404) return `not found: ${what} answered 404`;
  return `${what} answered ${status}`;
}

async function testHttp(spec: RepositorySpecJson): Promise<AccessResult> {
  const url = `${String(spec.url)}${typeof spec.validationSuffix === "string" ? spec.validationSuffix : ""}`;
  try {
    const res = await httpRequest(url, spec, { headersOnly: true, timeoutMs: TEST_TIMEOUT_MS });
    if (res.status >= 200 && res.status < 300) return { accessible: true, message: `GET ${url} answered ${res.status}` };
    return { accessible: false, message: statusProblem(`GET ${url}`, res.status) };
  } catch (e) {
    return { accessible: false, message: `GET ${url}: ${describeNetworkError(e)}` };
  }
}

/** The parameters of a `WWW-Authenticate: Bearer realm="…",service="…"` challenge. */
function bearerChallenge(header: string | undefined): Record<string, string> | undefined {
  if (!header || !/^bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params[m[1].toLowerCase()] = m[2];
  return params.realm ? params : undefined;
}

/**
 * OCI: GET /v2/. 2xx is accessible. 401 without credentials is accessible too: the registry is there and public
 * registries (quay.io, docker.io) answer every anonymous /v2/ call so; pulls then use anonymous tokens. With ociAuth,
 * the credentials are checked: against the token service the challenge names (Bearer), or on /v2/ itself (Basic).
 */
async function testOci(spec: RepositorySpecJson): Promise<AccessResult> {
  const url = `${spec.scheme === "http" ? "http" : "https"}://${String(spec.registry)}/v2/`;
  const auth = spec.ociAuth;
  const tls = { "ca.crt": spec["ca.crt"], skipServerVerification: spec.skipServerVerification === true };
  const withCredentials: HttpRepo = {
    url,
    httpConfig: { ...tls, ...(auth ? { username: auth.username ?? "", password: auth.password ?? "" } : {}) },
  };
  try {
    const res = await httpRequest(url, withCredentials, { headersOnly: true, timeoutMs: TEST_TIMEOUT_MS });
    if (res.status >= 200 && res.status < 300) return { accessible: true, message: `GET ${url} answered ${res.status}` };
    if (res.status !== 401) return { accessible: false, message: statusProblem(`GET ${url}`, res.status) };
    if (!auth) {
      return {
        accessible: true,
        message: `the registry answers (GET ${url} asks for authentication; without ociAuth only anonymous pulls can work)`,
      };
    }
    const challenge = bearerChallenge(res.headers["www-authenticate"] as string | undefined);
    if (!challenge) return { accessible: false, message: `authentication failed: GET ${url} refused the credentials of ociAuth (401)` };
    const realm = new URL(challenge.realm);
    if (challenge.service) realm.searchParams.set("service", challenge.service);
    const token = await httpRequest(
      realm.toString(),
      { ...withCredentials, url: realm.toString() },
      { headersOnly: true, timeoutMs: TEST_TIMEOUT_MS },
    );
    if (token.status >= 200 && token.status < 300)
      return { accessible: true, message: `the registry's token service accepted the credentials of ociAuth` };
    return { accessible: false, message: statusProblem(`the registry's token service (${realm.origin}${realm.pathname})`, token.status) };
  } catch (e) {
    return { accessible: false, message: `GET ${url}: ${describeNetworkError(e)}` };
  }
}

async function testGit(spec: RepositorySpecJson, git: GitClient): Promise<AccessResult> {
  try {
    await git.check(spec);
    return { accessible: true, message: `git ls-remote ${String(spec.url)} succeeded` };
  } catch (e) {
    // GitError messages name the repository by its credential-free URL already.
    if (e instanceof GitError) return { accessible: false, message: e.message };
    return { accessible: false, message: `git ls-remote ${String(spec.url)}: ${(e as Error).message}` };
  }
}

/** Tests one repository spec; never throws. */
export async function testRepository(spec: RepositorySpecJson, git: GitClient): Promise<AccessResult> {
  let result: AccessResult;
  try {
    const type = spec.type;
    result =
      type === "git"
        ? await testGit(spec, git)
        : type === "http"
          ? await testHttp(spec)
          : type === "oci"
            ? await testOci(spec)
            : { accessible: false, message: `unknown repository type "${String(type)}"` };
  } catch (e) {
    result = { accessible: false, message: String((e as Error)?.message ?? e) };
  }
  return { ...result, message: redact(result.message, spec) };
}

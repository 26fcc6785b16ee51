// Whether a repository can be reached with its settings, and if not, why, in words a person can act on: git asks the
// remote for its refs (ls-remote), http GETs url + validationSuffix, oci asks the registry's /v2/ endpoint (and its
// token service when credentials are configured). Secrets never appear in what it says.
import type { RepositorySpecJson } from "../../gen/flightctl/v1beta1/repository_pb.js";
import { GitError, type GitClient } from "./git.js";
import { describeNetworkError, httpRequest } from "./http-config.js";
import { createOciRegistryClient } from "./oci-registry.js";

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

/**
 * OCI: GET /v2/. 2xx is accessible. 401 without credentials is accessible too: the registry is there and public
 * registries (quay.io, docker.io) answer every anonymous /v2/ call so; pulls then use anonymous tokens. With ociAuth,
 * the credentials are checked: the registry client sends them as basic auth and, when the registry answers with a
 * Bearer challenge, trades them for a token at the token service the challenge names and calls /v2/ again with it.
 */
async function testOci(spec: RepositorySpecJson): Promise<AccessResult> {
  const registry = createOciRegistryClient(spec, { timeoutMs: TEST_TIMEOUT_MS });
  const url = `${registry.base}/v2/`;
  try {
    const res = await registry.request("GET", "/v2/");
    if (res.status >= 200 && res.status < 300) {
      return res.viaToken && spec.ociAuth
        ? { accessible: true, message: "the registry's token service accepted the credentials of ociAuth" }
        : { accessible: true, message: `GET ${url} answered ${res.status}` };
    }
    if (res.status === 401 && !spec.ociAuth) {
      return {
        accessible: true,
        message: `the registry answers (GET ${url} asks for authentication; without ociAuth only anonymous pulls can work)`,
      };
    }
    if (res.byTokenService)
      return { accessible: false, message: statusProblem(`the registry's token service (${res.answeredBy})`, res.status) };
    if (res.status === 401)
      return { accessible: false, message: `authentication failed: GET ${url} refused the credentials of ociAuth (401)` };
    return { accessible: false, message: statusProblem(`GET ${url}`, res.status) };
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

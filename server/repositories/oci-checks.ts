// flightctl's check-oci-tag and check-oci-image: does the registry of an oci Repository have this image (tag), and do
// the repository's credentials let us read it. An answer of the registry is a result (accessible, or not with its
// HTTP status and why); a registry that does not answer is Unavailable, since then nothing is known about the image.
import type { RepositorySpecJson } from "../../gen/flightctl/v1beta1/repository_pb.js";
import { invalid, unavailable, type FieldViolation } from "../platform/errors.js";
import { quote } from "../../lib/quote.js";
import { describeNetworkError } from "./http-config.js";
import { createOciRegistryClient, MANIFEST_MEDIA_TYPES, registryError, type RegistryResponse } from "./oci-registry.js";

export interface OciCheckResult {
  accessible: boolean;
  /** The registry's HTTP status when not accessible. */
  errorCode?: number;
  errorMessage?: string;
}

/** The repository a check reads: its name (for messages) and its spec with credentials. */
export interface OciRepository {
  name: string;
  spec: RepositorySpecJson;
}

/** Per request; a registry that does not answer within it is reported Unavailable. */
export const CHECK_TIMEOUT_MS = 30_000;

// The image name and tag grammar of container references (github.com/containers/image docker/reference), as flightctl
// checks them: path components of lowercase letters and digits joined by '.', '_', '__' or dashes, optionally behind a
// registry host.
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const NAME_COMPONENT = "[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?";
const DOMAIN = `${DOMAIN_COMPONENT}(?:[.]${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const IMAGE_NAME = new RegExp(`^(?:${DOMAIN}/)?${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;

function imageNameProblem(name: string): string | undefined {
  if (!name) return "is required";
  if (name.length > 255) return `must be at most 255 characters, got ${name.length}`;
  if (/[:@]/.test(name) && !IMAGE_NAME.test(name)) return `${quote(name)} must not include a tag or digest (give the tag separately)`;
  if (!IMAGE_NAME.test(name))
    return `${quote(name)} is not an image name: lowercase path components (a-z, 0-9, '.', '_', '-') separated by '/'`;
  return undefined;
}

function tagProblem(tag: string): string | undefined {
  if (!tag) return "is required";
  if (!TAG.test(tag)) return `${quote(tag)} is not a tag: a letter, digit or '_', then up to 127 of those, '.' or '-'`;
  return undefined;
}

/** The repository must be of type oci; its spec then names the registry. */
function ociSpec({ name, spec }: OciRepository): RepositorySpecJson {
  if (spec.type !== "oci") {
    throw invalid({ field: "name", message: `repository ${quote(name)} is of type ${quote(String(spec.type ?? ""))}, not "oci"` });
  }
  return spec;
}

function refuse(violations: FieldViolation[]): void {
  if (violations.length) throw invalid(violations);
}

/** What a registry answer other than 2xx means, for errorMessage. */
function notAccessible(what: string, spec: RepositorySpecJson, res: RegistryResponse): OciCheckResult {
  const registry = String(spec.registry);
  const detail = registryError(res.body);
  const suffix = detail ? ` (${detail})` : "";
  // Who refused: the registry itself or its token service; what: the credentials of ociAuth, or (none) an anonymous caller.
  const who = res.byTokenService ? `the token service of registry ${registry} (${res.answeredBy})` : `registry ${registry}`;
  const refused = spec.ociAuth
    ? `${who} refused the credentials for ${what} (${res.status}): check the repository's ociAuth`
    : `${who} refused anonymous access to ${what} (${res.status}): the registry needs the repository's ociAuth`;
  let message: string;
  if (res.status === 404) message = `${what} not found in registry ${registry}${suffix}`;
  else if (res.status === 401 || res.status === 403) message = `${refused}${suffix}`;
  else message = `registry ${registry} answered ${res.status} for ${what}${suffix}`;
  return { accessible: false, errorCode: res.status, errorMessage: message };
}

async function ask(
  spec: RepositorySpecJson,
  method: "GET" | "HEAD",
  path: string,
  opts: { accept?: string[]; scope: string },
  timeoutMs: number,
): Promise<RegistryResponse> {
  const client = createOciRegistryClient(spec, { timeoutMs });
  try {
    return await client.request(method, path, opts);
  } catch (e) {
    throw unavailable(`registry ${String(spec.registry)} cannot be reached: ${describeNetworkError(e)}`);
  }
}

/** check-oci-tag: the input is checked first, then the repository loaded (NotFound), then HEAD /v2/<image>/manifests/<tag> (with the manifest types a tag may resolve to). */
export async function checkOciTag(
  load: () => Promise<OciRepository>,
  imageName: string,
  tag: string,
  timeoutMs = CHECK_TIMEOUT_MS,
): Promise<OciCheckResult> {
  const problems: FieldViolation[] = [];
  const n = imageNameProblem(imageName);
  if (n) problems.push({ field: "imageName", message: n });
  const t = tagProblem(tag);
  if (t) problems.push({ field: "tag", message: t });
  refuse(problems);
  const spec = ociSpec(await load());
  const res = await ask(
    spec,
    "HEAD",
    `/v2/${imageName}/manifests/${tag}`,
    { accept: MANIFEST_MEDIA_TYPES, scope: `repository:${imageName}:pull` },
    timeoutMs,
  );
  if (res.status >= 200 && res.status < 300) return { accessible: true };
  return notAccessible(`tag ${quote(tag)} of image ${quote(imageName)}`, spec, res);
}

/** check-oci-image: as check-oci-tag, with GET /v2/<image>/tags/list?n=1 (the image exists and can be listed). */
export async function checkOciImage(
  load: () => Promise<OciRepository>,
  imageName: string,
  timeoutMs = CHECK_TIMEOUT_MS,
): Promise<OciCheckResult> {
  const n = imageNameProblem(imageName);
  refuse(n ? [{ field: "imageName", message: n }] : []);
  const spec = ociSpec(await load());
  const res = await ask(spec, "GET", `/v2/${imageName}/tags/list?n=1`, { scope: `repository:${imageName}:pull` }, timeoutMs);
  if (res.status >= 200 && res.status < 300) return { accessible: true };
  return notAccessible(`image ${quote(imageName)}`, spec, res);
}

// check-oci-tag / check-oci-image against a registry with token auth (the distribution spec's Bearer flow, as quay.io
// and docker.io do it), which Debian's docker-registry cannot play without a token server: a small fake on loopback
// that hands out tokens per scope and checks them. (Basic auth, absent tags and images, and an unreachable registry
// are tested against a real registry in test/oci-repository.test.ts.)
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { checkOciImage, checkOciTag } from "./oci-checks.js";
import { MANIFEST_MEDIA_TYPES } from "./oci-registry.js";

let server: http.Server;
let host: string;
/** What the fake saw: token requests (scope, whether credentials came) and the Accept of manifest requests. */
const seen = { tokens: [] as { scope: string | null; basic: boolean }[], accept: [] as string[] };
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;

before(async () => {
  server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname === "/token") {
      const scope = u.searchParams.get("scope");
      const auth = req.headers.authorization;
      seen.tokens.push({ scope, basic: !!auth });
      // Private images need ann's credentials; public/* is readable anonymously.
      const ok = auth === basic("ann", "s3cret") || (!auth && scope?.startsWith("repository:public/"));
      if (u.searchParams.get("service") !== "fake-registry" || !ok) return res.writeHead(401).end();
      return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: `tok ${scope}` }));
    }
    const m = /^\/v2\/(.+)\/(manifests|tags)\/(.+)$/.exec(u.pathname);
    const name = m?.[1] ?? "";
    const scope = `repository:${name}:pull`;
    if (req.headers.authorization !== `Bearer tok ${scope}`) {
      const challenge = `Bearer realm="http://${host}/token",service="fake-registry",scope="${scope}"`;
      return res.writeHead(401, { "www-authenticate": challenge, "content-type": "application/json" }).end();
    }
    if (m?.[2] === "manifests") {
      seen.accept.push(String(req.headers.accept));
      const found = (name === "apps/bb" || name === "public/bb") && m[3] === "1";
      return res.writeHead(found ? 200 : 404).end();
    }
    if (name === "apps/bb" || name === "public/bb") return res.writeHead(200).end(JSON.stringify({ name, tags: ["1"] }));
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ errors: [{ code: "NAME_UNKNOWN", message: "repository name not known to registry" }] }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const repo = (password?: string) => async () => ({
  name: "fake",
  spec: {
    type: "oci",
    registry: host,
    scheme: "http",
    ...(password ? { ociAuth: { authType: "docker", username: "ann", password } } : {}),
  },
});

test("the credentials are traded for a token of the image's pull scope, which the registry then accepts", async () => {
  seen.tokens.length = 0;
  seen.accept.length = 0;
  assert.deepEqual(await checkOciTag(repo("s3cret"), "apps/bb", "1"), { accessible: true });
  assert.deepEqual(seen.tokens, [{ scope: "repository:apps/bb:pull", basic: true }]);
  assert.deepEqual(seen.accept, [MANIFEST_MEDIA_TYPES.join(", ")]);
  assert.deepEqual(await checkOciImage(repo("s3cret"), "apps/bb"), { accessible: true });
  const absent = await checkOciTag(repo("s3cret"), "apps/bb", "2");
  assert.deepEqual(absent, { accessible: false, errorCode: 404, errorMessage: `tag "2" of image "apps/bb" not found in registry ${host}` });
  assert.deepEqual(await checkOciImage(repo("s3cret"), "apps/none"), {
    accessible: false,
    errorCode: 404,
    errorMessage: `image "apps/none" not found in registry ${host} (NAME_UNKNOWN: repository name not known to registry)`,
  });
});

test("without credentials an anonymous token is asked for; a refused token is a 401 result naming the token service", async () => {
  assert.deepEqual(await checkOciTag(repo(), "public/bb", "1"), { accessible: true });
  const anonymous = await checkOciTag(repo(), "apps/bb", "1");
  assert.equal(anonymous.accessible, false);
  assert.equal(anonymous.errorCode, 401);
  assert.equal(
    anonymous.errorMessage,
    `the token service of registry ${host} (http://${host}/token) refused anonymous access to tag "1" of image "apps/bb" (401): the registry needs the repository's ociAuth`,
  );
  const wrong = await checkOciImage(repo("guess"), "apps/bb");
  assert.equal(wrong.errorCode, 401);
  assert.equal(
    wrong.errorMessage,
    `the token service of registry ${host} (http://${host}/token) refused the credentials for image "apps/bb" (401): check the repository's ociAuth`,
  );
  assert.doesNotMatch(String(wrong.errorMessage), /guess/);
});

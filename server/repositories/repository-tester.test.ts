// The repository tester's http and oci checks against small servers on loopback, and its secret redaction. (git is
// tested against a real git server in test/gitops-render.test.ts.)
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { devicePaths, repoPath } from "./git-config.js";
import { redact, testRepository } from "./repository-tester.js";
import type { GitClient } from "./git.js";

const noGit = {} as GitClient;
let server: http.Server;
let host: string;
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;

before(async () => {
  server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    // A token-auth registry (quay.io, docker.io style) and an http repository.
    if (u.pathname === "/v2/") {
      // The token the token service hands out is accepted; anything else gets the challenge.
      if (req.headers.authorization === "Bearer t") res.writeHead(200).end("{}");
      else res.writeHead(401, { "www-authenticate": `Bearer realm="http://${host}/token",service="test-registry"` }).end();
    } else if (u.pathname === "/token") {
      const ok = req.headers.authorization === basic("ann", "s3cret") && u.searchParams.get("service") === "test-registry";
      res.writeHead(ok ? 200 : 401).end(ok ? '{"token":"t"}' : "");
    } else if (u.pathname === "/files/health") {
      res.writeHead(req.headers.authorization === basic("ann", "s3cret") ? 200 : 401).end("ok");
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test("oci: a registry asking anonymous callers to authenticate is reachable; credentials are checked at its token service", async () => {
  const oci = { type: "oci", registry: host, scheme: "http" };
  const anon = await testRepository(oci, noGit);
  assert.equal(anon.accessible, true);
  assert.match(anon.message, /asks for authentication; without ociAuth only anonymous pulls can work/);
  const good = await testRepository({ ...oci, ociAuth: { authType: "docker", username: "ann", password: "s3cret" } }, noGit);
  assert.deepEqual(good, { accessible: true, message: "the registry's token service accepted the credentials of ociAuth" });
  const bad = await testRepository({ ...oci, ociAuth: { authType: "docker", username: "ann", password: "guess" } }, noGit);
  assert.equal(bad.accessible, false);
  assert.match(bad.message, /^authentication failed: the registry's token service \(http:\/\/127\.0\.0\.1:\d+\/token\) answered 401$/);
});

test("http: url + validationSuffix must answer 2xx; refused connections and unknown hosts say so", async () => {
  const spec = {
    type: "http",
    url: `http://${host}/files`,
    validationSuffix: "/health",
    httpConfig: { username: "ann", password: "s3cret" },
  };
  assert.deepEqual(await testRepository(spec, noGit), { accessible: true, message: `GET http://${host}/files/health answered 200` });
  const wrong = await testRepository({ ...spec, httpConfig: { username: "ann", password: "guess-me" } }, noGit);
  assert.deepEqual(wrong, { accessible: false, message: `authentication failed: GET http://${host}/files/health answered 401` });
  const missing = await testRepository({ ...spec, validationSuffix: "/nope" }, noGit);
  assert.match(missing.message, /^not found: GET .*\/files\/nope answered 404$/);
  const refused = await testRepository({ type: "http", url: "http://127.0.0.1:1/x" }, noGit);
  assert.equal(refused.accessible, false);
  assert.match(refused.message, /^GET http:\/\/127\.0\.0\.1:1\/x: connection refused/);
  const unknown = await testRepository({ type: "http", url: "https://no-such-host.invalid/x" }, noGit);
  assert.match(unknown.message, /^GET https:\/\/no-such-host\.invalid\/x: host not found/);
});

test("secrets never appear in messages", () => {
  const spec = {
    httpConfig: { password: "hunter22", token: "a.b.c" },
    sshConfig: { privateKeyPassphrase: "pass-phrase" },
    ociAuth: { password: "regpass" },
  };
  assert.equal(
    redact("https://ann:hunter22@h/x failed: hunter22 pass-phrase regpass https://bob:other@h", spec),
    "https://ann:*****@h/x failed: ***** ***** ***** https://bob:*****@h",
  );
});

test("git config paths: a directory's files keep their relative paths under mountPath, a file goes by its base name", () => {
  assert.equal(repoPath("/base/"), "base");
  assert.equal(repoPath("/"), "");
  assert.equal(repoPath("../../etc"), "etc", "cannot climb out of the repository");
  const dir = [{ path: "base/etc/motd" }, { path: "base/usr/bin/x" }];
  assert.deepEqual(devicePaths(dir, "base"), ["/etc/motd", "/usr/bin/x"]);
  assert.deepEqual(devicePaths(dir, "base", "/opt/app"), ["/opt/app/etc/motd", "/opt/app/usr/bin/x"]);
  assert.deepEqual(devicePaths([{ path: "a/b.conf" }], "a/b.conf", "/etc/app"), ["/etc/app/b.conf"]);
  assert.deepEqual(devicePaths([{ path: "a/b.conf" }], "a"), ["/b.conf"], "a directory holding one file keeps its relative path");
  assert.deepEqual(devicePaths([{ path: "x" }, { path: "d/y" }], ""), ["/x", "/d/y"]);
});

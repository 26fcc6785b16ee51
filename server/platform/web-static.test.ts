// The web UI's static serving over a real socket: content types, cache headers, gzip, 304, SPA fallback, RPC paths
// and traversal left alone, and the "not built" answer.
import { assertNoOpenHandles } from "../../test/helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { after, before, test } from "node:test";
import { createWebStatic } from "./web-static.js";

let dir: string;
let server: http.Server;
let base: string;
let root = "";

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "fc-web-"));
  mkdirSync(join(dir, "dist/assets"), { recursive: true });
  writeFileSync(join(dir, "dist/index.html"), "<!doctype html><title>UI</title>");
  writeFileSync(join(dir, "dist/assets/app-abc123.js"), `console.log(${JSON.stringify("x".repeat(2000))});`);
  writeFileSync(join(dir, "secret.txt"), "outside the build");
  root = join(dir, "dist");
  server = http.createServer((req, res) => {
    if (!createWebStatic(root)(req, res)) res.writeHead(404).end("not found");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

const get = (path: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    http
      .get(`${base}${path}`, { headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on("error", reject);
  });

test("hashed assets: JavaScript type, cached for a year, gzip when accepted, 304 on a matching ETag", async () => {
  const r = await get("/assets/app-abc123.js", { "accept-encoding": "gzip, br" });
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "text/javascript; charset=utf-8");
  assert.equal(r.headers["cache-control"], "public, max-age=31536000, immutable");
  assert.equal(r.headers["content-encoding"], "gzip");
  assert.match(gunzipSync(r.body).toString(), /^console\.log/);
  const again = await get("/assets/app-abc123.js", { "if-none-match": String(r.headers.etag) });
  assert.equal(again.status, 304);
});

test("client-side routes get index.html, revalidated, with a CSP", async () => {
  for (const path of ["/", "/devices/abc", "/fleets?x=1"]) {
    const r = await get(path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(r.headers["cache-control"], "no-cache");
    assert.match(String(r.headers["content-security-policy"]), /default-src 'self'/);
    assert.match(r.body.toString(), /<title>UI<\/title>/);
  }
});

test("RPC paths, missing assets and paths outside the build are not answered", async () => {
  assert.equal((await get("/flightctl.v1beta1.DeviceService/ListDevices")).status, 404);
  assert.equal((await get("/assets/gone-123.js")).status, 404);
  for (const path of ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"]) {
    const r = await get(path);
    assert.equal(r.status, 404, path);
    assert.doesNotMatch(r.body.toString(), /outside the build/, path);
  }
});

test("without a build, UI paths say how to build it", async () => {
  const saved = root;
  root = join(dir, "missing");
  try {
    const r = await get("/devices");
    assert.equal(r.status, 503);
    assert.match(r.body.toString(), /npm run build:web/);
  } finally {
    root = saved;
  }
});

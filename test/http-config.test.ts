// The http config provider against a real HTTP server on loopback: the body lands in the rendered spec at its path,
// is fetched once per template version (fleet members share it) or per spec generation (standalone), stays frozen
// when the server changes, and wrong credentials or a missing repository give SpecValid=False saying why.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { drizzle } from "drizzle-orm/node-postgres";
import { createClient } from "@connectrpc/connect";
import { fromJson } from "@bufbuild/protobuf";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { RepositoryService } from "../gen/flightctl/v1beta1/repository_service_pb.js";
import { RepositorySchema } from "../gen/flightctl/v1beta1/repository_pb.js";
import { createDeviceTasks } from "../server/devices/device-tasks.js";
import { createHttpConfigResolver } from "../server/repositories/http-config.js";
import { memoryContentCache } from "../server/platform/content-cache.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import type { Db } from "../server/platform/resource/resource-store.js";

let t: TestApp;
let db: Db;
let server: http.Server;
let base: string;
let body = "served v1\n";
let requests = 0;
before(async () => {
  t = await startTestApp();
  db = drizzle(t.db.pool) as unknown as Db;
  server = http.createServer((req, res) => {
    requests++;
    if (req.headers.authorization !== `Basic ${Buffer.from("ann:secret").toString("base64")}`) {
      res.writeHead(401).end();
      return;
    }
    if (req.url !== "/files/motd") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  await t.close();
  await assertNoOpenHandles();
});

const devices = () => createClient(DeviceService, t.transport);
const repos = () => createClient(RepositoryService, t.transport);
const ORG = DEFAULT_ORG_ID;

async function putRepo(name: string, password: string) {
  const repository = fromJson(RepositorySchema, {
    apiVersion: "v1beta1",
    kind: "Repository",
    metadata: { name },
    spec: { type: "http", url: `${base}/files`, httpConfig: { username: "ann", password } },
  });
  await repos().replaceRepository({ name, repository });
}

async function putDevice(name: string, repo: string, extra: object[] = []) {
  const spec = { config: [{ name: "motd", httpRef: { repository: repo, suffix: "/motd", filePath: "/etc/motd" } }, ...extra] };
  await devices().replaceDevice({ name, device: { apiVersion: "v1beta1", kind: "Device", metadata: { name }, spec: spec as never } });
}

const renderedMotd = async (name: string) => {
  const r = await t.db.pool.query(`select rendered_version, spec from device_renders where name = $1`, [name]);
  const file = r.rows[0]?.spec.config[0].inline.find((f: { path: string }) => f.path === "/etc/motd");
  return {
    version: Number(r.rows[0]?.rendered_version),
    content: file && Buffer.from(file.content, file.contentEncoding === "base64" ? "base64" : "utf8").toString(),
  };
};

test("the body is rendered at its path, frozen until the spec changes", async () => {
  const tasks = createDeviceTasks(db, { resolvers: { httpRef: createHttpConfigResolver(db, memoryContentCache()) } });
  await putRepo("web", "secret");
  await putDevice("h1", "web");
  await tasks.render(ORG, "h1");
  assert.deepEqual(await renderedMotd("h1"), { version: 1, content: "served v1\n" });
  // The server changes; the same spec renders the same frozen content, without asking again.
  body = "served v2\n";
  const asked = requests;
  await tasks.render(ORG, "h1");
  assert.deepEqual(await renderedMotd("h1"), { version: 1, content: "served v1\n" });
  assert.equal(requests, asked);
  // A new spec generation fetches again.
  await putDevice("h1", "web", [{ name: "extra", inline: [{ path: "/etc/extra", content: "x" }] }]);
  await tasks.render(ORG, "h1");
  assert.deepEqual(await renderedMotd("h1"), { version: 2, content: "served v2\n" });
});

test("wrong credentials and a missing repository are SpecValid=False, naming the provider", async () => {
  const tasks = createDeviceTasks(db, { resolvers: { httpRef: createHttpConfigResolver(db, memoryContentCache()) } });
  await putRepo("wrong", "guess");
  await putDevice("h2", "wrong");
  await tasks.render(ORG, "h2");
  let c = (await devices().getDevice({ name: "h2" })).status?.conditions.find((x) => x.type === "SpecValid");
  assert.equal(c?.status, "False");
  assert.match(
    c!.message!,
    /config provider "motd": GET http:\/\/127\.0\.0\.1:\d+\/files\/motd answered 401 \(check the repository's credentials\)/,
  );
  await putDevice("h3", "nowhere");
  await tasks.render(ORG, "h3");
  c = (await devices().getDevice({ name: "h3" })).status?.conditions.find((x) => x.type === "SpecValid");
  assert.match(c!.message!, /config provider "motd": repository "nowhere" does not exist/);
  // Fixed credentials: the next render succeeds (failures are not frozen).
  await putRepo("wrong", "secret");
  await tasks.render(ORG, "h2");
  assert.equal((await renderedMotd("h2")).content, body);
});

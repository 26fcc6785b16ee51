// The real flightctl binary against a real API: login with a token, apply flightctl's example files and read
// them back as identical YAML, listing with selectors and paging over 2,500 devices, edit with a concurrent
// change, approving a real agent's enrollment, deleting by selector, and clear errors with exit code 1.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import pino from "pino";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { BIN, buildCli, runCli } from "./helpers/cli.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { startSimulator } from "../agent/simulator.js";
import { parseAgentConfig } from "../agent/config.js";

const examples = new URL("./fixtures/flightctl-examples/", import.meta.url);
let t: TestApi;
let admin: string;
let dir: string;
let cfgDir: string;
const cli = (args: string[], opts?: Parameters<typeof runCli>[2]) => runCli(cfgDir, args, opts);
const ok = async (args: string[], opts?: Parameters<typeof runCli>[2]) => {
  const r = await cli(args, opts);
  assert.equal(r.code, 0, `flightctl ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
};

before(async () => {
  buildCli();
  t = await startTestApi();
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-cli-"));
  cfgDir = join(dir, "config");
  await ok(["login", `https://localhost:${t.api.port}`, "--certificate-authority", t.api.caPath, "--token", admin]);
});
after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

test("login stored the server, its CA and the token; version shows client and server", async () => {
  const cfg = parse(readFileSync(join(cfgDir, "client.yaml"), "utf8"));
  assert.equal(cfg.service.server, `https://localhost:${t.api.port}`);
  assert.equal(Buffer.from(cfg.service["certificate-authority-data"], "base64").toString(), readFileSync(t.api.caPath, "utf8"));
  const v = JSON.parse(await ok(["version", "-o", "json"]));
  assert.ok(v.clientVersion);
  assert.ok(v.serverVersion, "server version");
});

test("--help works for every verb and shows examples", async () => {
  for (const verb of ["get", "apply", "edit", "approve", "rollout", "login"]) {
    const r = await cli([verb, "--help"]);
    assert.equal(r.code, 0, verb);
    assert.match(r.stdout + r.stderr, new RegExp(`flightctl ${verb}`), verb);
  }
});

/** Drops what the service sets (and status), and empty lists (proto3 cannot tell them from absent ones). */
function comparable(v: JsonValue, top = true): JsonValue {
  if (Array.isArray(v)) return v.map((x) => comparable(x, false));
  if (v && typeof v === "object") {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) {
      if (top && k === "status") continue;
      if (Array.isArray(x) && x.length === 0) continue;
      out[k] = comparable(x, false);
    }
    if (top && out.metadata) {
      const { resourceVersion, generation, creationTimestamp, annotations, owner, ...rest } = out.metadata as JsonObject;
      void [resourceVersion, generation, creationTimestamp, annotations, owner];
      out.metadata = rest;
    }
    return out;
  }
  return v;
}

/** Secrets read back as "*****" (docs/api.md): where the output masks one, take the input's value. */
function unmask(out: JsonValue, input: JsonValue | undefined): JsonValue {
  if (out === "*****" && typeof input === "string") return input;
  if (Array.isArray(out)) return out.map((x, i) => unmask(x, Array.isArray(input) ? input[i] : undefined));
  if (out && typeof out === "object") {
    const src = (input && typeof input === "object" && !Array.isArray(input) ? input : {}) as JsonObject;
    return Object.fromEntries(Object.entries(out).map(([k, x]) => [k, unmask(x, src[k])]));
  }
  return out;
}

describe("flightctl's example files", () => {
  const files = readdirSync(examples).filter((f) => /\.ya?ml$/.test(f));
  // Repositories first: the devices' and fleets' git configs refer to them.
  const ordered = [...files].sort((a, b) => Number(!a.startsWith("repository")) - Number(!b.startsWith("repository")));
  const REFUSED: Record<string, RegExp> = { "csr-waiting.yml": /spec\.signerName/ };

  test("apply each, and get it back as the same YAML", async () => {
    let compared = 0;
    for (const f of ordered) {
      const path = join(examples.pathname, f);
      const r = await cli(["apply", "-f", path]);
      if (REFUSED[f]) {
        assert.equal(r.code, 1, f);
        assert.match(r.stderr, REFUSED[f], f);
        continue;
      }
      assert.equal(r.code, 0, `${f}: ${r.stderr}`);
      for (const doc of parseAllDocuments(readFileSync(path, "utf8"), { version: "1.1" })) {
        const input = doc.toJS() as JsonObject;
        const name = (input.metadata as JsonObject).name as string;
        const out = parse(await ok(["get", `${String(input.kind).toLowerCase()}/${name}`, "-o", "yaml"]), { version: "1.1" }) as JsonObject;
        // The service records who asked for a CSR in spec.username/uid (as flightctl and Kubernetes do).
        if (input.kind === "CertificateSigningRequest")
          for (const k of ["username", "uid"]) if (!(k in (input.spec as JsonObject))) delete (out.spec as JsonObject)[k];
        assert.deepEqual(comparable(unmask(out, input)), comparable(input), `${f}: ${input.kind}/${name}`);
        compared++;
      }
    }
    assert.ok(compared >= 14, `compared ${compared}`);
  });

  test("apply a directory with --dry-run checks every document and sends nothing", async () => {
    const d = join(dir, "dry");
    mkdirSync(join(d, "sub"), { recursive: true });
    writeFileSync(
      join(d, "a.yaml"),
      "apiVersion: v1beta1\nkind: Device\nmetadata:\n  name: dry-a\n---\napiVersion: v1beta1\nkind: Device\nmetadata:\n  name: dry-b\n",
    );
    writeFileSync(join(d, "sub", "c.json"), JSON.stringify({ apiVersion: "v1beta1", kind: "Device", metadata: { name: "dry-c" } }));
    const flat = await ok(["apply", "-f", d, "--dry-run"]);
    assert.deepEqual(flat.trim().split("\n").length, 2);
    const deep = await ok(["apply", "-f", d, "-R", "--dry-run"]);
    assert.match(deep, /device\/dry-c/);
    const r = await cli(["get", "device/dry-a"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /device\/dry-a: not found/);
  });
});

describe("errors a person can act on", () => {
  test("bad YAML names the file and document; exit code 1", async () => {
    const f = join(dir, "bad.yaml");
    writeFileSync(f, "apiVersion: v1beta1\nkind: Device\nmetadata:\n  name: ok\n---\nkind: Device\nmetadata: [unclosed\n");
    const r = await cli(["apply", "-f", f]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.yaml: not valid YAML or JSON: document 2/);
    assert.equal((await cli(["get", "device/ok"])).code, 1, "nothing applied");
  });

  test("an unknown kind in a file, an unknown type on the command line, an unknown field", async () => {
    const f = join(dir, "kind.yaml");
    writeFileSync(f, "apiVersion: v1beta1\nkind: Gizmo\nmetadata:\n  name: g\n");
    let r = await cli(["apply", "-f", f]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /kind\.yaml: unknown kind "Gizmo"; expected one of .*Device/);
    r = await cli(["get", "gizmos"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown resource type "gizmos"; known types: devices/);
    writeFileSync(
      f,
      "apiVersion: v1beta1\nkind: Fleet\nmetadata:\n  name: f\nspec:\n  selector:\n    matchLabels: {a: b}\n  template:\n    spec:\n      os:\n        imag: x\n",
    );
    r = await cli(["apply", "-f", f]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /fleet\/f: spec\.template\.spec\.os\.imag: unknown field/);
  });

  test("invalid values are refused by the service naming the field", async () => {
    const f = join(dir, "invalid.yaml");
    writeFileSync(f, "apiVersion: v1beta1\nkind: Device\nmetadata:\n  name: Not_A_Name\n");
    const r = await cli(["apply", "-f", f]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /device\/Not_A_Name: invalid: .*metadata\.name/);
  });

  test("not logged in, an unknown command, a bad flag value", async () => {
    let r = await runCli(join(dir, "nowhere"), ["get", "devices"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not logged in .*flightctl login/);
    r = await cli(["frobnicate"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown command "frobnicate"/);
    r = await cli(["get", "devices", "--limit", "-3"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--limit must be a positive integer/);
    r = await cli(["get", "devices", "-o", "xml"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown output format "xml"/);
  });
});

describe("edit", () => {
  const editorScript = (body: string) => {
    const p = join(dir, `editor-${Math.random().toString(36).slice(2)}.mjs`);
    writeFileSync(
      p,
      `import { readFileSync, writeFileSync } from "node:fs";\nimport { execFileSync } from "node:child_process";\nconst file = process.argv[2];\n${body}\n`,
    );
    return `${process.execPath} ${p}`;
  };

  test("a change made in the editor is saved", async () => {
    await ok(["apply", "-f", "-"], { input: "apiVersion: v1beta1\nkind: Device\nmetadata:\n  name: edit-me\n  labels:\n    site: a\n" });
    const editor = editorScript(`writeFileSync(file, readFileSync(file, "utf8").replace("site: a", "site: b"));`);
    assert.match(await ok(["edit", "device/edit-me"], { env: { FLIGHTCTL_EDITOR: editor } }), /device\/edit-me edited/);
    assert.match(await ok(["get", "device/edit-me", "-o", "wide"]), /site=b/);
  });

  test("a concurrent change is detected: clear conflict error, nothing overwritten", async () => {
    await ok(["apply", "-f", "-"], { input: "apiVersion: v1beta1\nkind: Device\nmetadata:\n  name: contested\n  labels:\n    site: a\n" });
    // While "the user" edits, someone else patches the device through the CLI.
    const editor = editorScript(
      `execFileSync(process.execPath, [${JSON.stringify(BIN)}, "patch", "device/contested", "-p", JSON.stringify([{ op: "add", path: "/metadata/labels/owner", value: "other" }])], { stdio: "inherit" });\n` +
        `writeFileSync(file, readFileSync(file, "utf8").replace("site: a", "site: mine"));`,
    );
    const r = await cli(["edit", "device/contested"], { env: { FLIGHTCTL_EDITOR: editor } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /device\/contested was changed by someone else while you were editing it/);
    assert.match(r.stderr, /your changes were NOT saved/);
    assert.match(r.stderr, /edited copy is kept at /);
    const now = parse(await ok(["get", "device/contested", "-o", "yaml"]));
    assert.deepEqual(now.metadata.labels, { site: "a", owner: "other" });
  });
});

describe("listing 2,500 devices", () => {
  const N = 2500;
  before(async () => {
    // One device through the API, copied 2,500 times in SQL (same org, spec, status) with their own names and labels.
    await userClient(t, DeviceService).createDevice(
      { device: { apiVersion: "v1beta1", kind: "Device", metadata: { name: "bulk-template" } } },
      { headers: { authorization: `Bearer ${admin}` } },
    );
    await t.db.pool.query(
      `insert into devices (org_id, name, labels, annotations, spec, status)
       select org_id, 'bulk-' || lpad(i::text, 5, '0'),
              jsonb_build_object('group', 'bulk', 'parity', case when i % 2 = 1 then 'odd' else 'even' end)
                || case when i % 10 = 0 then jsonb_build_object('alias', 'a' || i) else '{}'::jsonb end,
              annotations, spec, status
       from devices, generate_series(0, $1 - 1) i where name = 'bulk-template'`,
      [N],
    );
    await t.db.pool.query(`delete from devices where name = 'bulk-template'`);
  });

  test("every page is fetched through continue", async () => {
    const out = await ok(["get", "devices", "-l", "group=bulk", "-o", "name"]);
    const lines = out.trim().split("\n");
    assert.equal(lines.length, N);
    assert.equal(lines[0], "device/bulk-00000");
    assert.equal(lines[N - 1], `device/bulk-${String(N - 1).padStart(5, "0")}`);
    const list = JSON.parse(await ok(["get", "devices", "-l", "group=bulk,parity=odd", "-o", "json"]));
    assert.equal(list.kind, "DeviceList");
    assert.equal(list.items.length, N / 2);
  });

  test("--limit stops early and says how to continue; --continue resumes", async () => {
    const r = await cli(["get", "devices", "-l", "group=bulk", "--limit", "1200", "-o", "name"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").length, 1200);
    const m = /(\d+) more; continue with --continue (\S+)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.equal(Number(m[1]), N - 1200);
    const rest = await ok(["get", "devices", "-l", "group=bulk", "--continue", m[2], "-o", "name"]);
    assert.equal(rest.trim().split("\n").length, N - 1200);
    assert.equal(rest.split("\n")[0], "device/bulk-01200");
  });

  test("field selectors and the table's columns", async () => {
    const out = await ok(["get", "devices", "--field-selector", "metadata.alias=a2420"]);
    const [header, row, ...rest] = out.trim().split("\n");
    assert.deepEqual(header.split(/\s{3,}/), ["NAME", "ALIAS", "OWNER", "SYSTEM", "UPDATED", "APPLICATIONS", "LAST SEEN"]);
    assert.match(row, /^bulk-02420\s+a2420\s+<none>\s+/);
    assert.equal(rest.length, 0);
    const summary = await ok(["get", "devices", "-l", "group=bulk", "--summary-only"]);
    assert.match(summary, new RegExp(`DEVICES\\n${N}\\n`));
  });

  test("delete by selector", async () => {
    const out = await ok(["delete", "devices", "-l", "group=bulk,parity=odd"]);
    assert.equal(out.trim().split("\n").length, N / 2);
    assert.equal((await ok(["get", "devices", "-l", "group=bulk", "-o", "name"])).trim().split("\n").length, N / 2);
  });
});

test("approve a real agent's enrollment request with labels", async () => {
  const config = parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused"));
  const sim = await startSimulator({ count: 1, config, baseDir: join(dir, "agents"), log: pino({ level: "silent" }) });
  try {
    // The simulated agent's request (the example files applied earlier hold another one).
    const name = await waitFor("the agent's enrollment request", async () => {
      const list = JSON.parse(await ok(["get", "enrollmentrequests", "-o", "json"]));
      return (list.items as { metadata: { name: string }; spec: { labels?: Record<string, string> } }[]).find(
        (er) => er.spec.labels?.["simulator-index"] === "0",
      )?.metadata.name;
    });
    assert.match(await ok(["get", "er", name]), new RegExp(`${name}\\s+Pending`));
    assert.match(
      await ok(["approve", `er/${name}`, "-l", "site=cli", "-l", "tier=edge"]),
      new RegExp(`enrollmentrequest/${name} approved`),
    );
    const er = await ok(["get", "er", name]);
    assert.match(er, new RegExp(`${name}\\s+Approved\\s+root\\s+.*site=cli`));
    const device = parse(await ok(["get", `device/${name}`, "-o", "yaml"]));
    assert.equal(device.metadata.labels.site, "cli");
    assert.equal(device.metadata.labels.tier, "edge");
    const again = await cli(["approve", `er/${name}`]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`enrollmentrequest/${name}: invalid: .*already approved`));
  } finally {
    await sim.stop();
  }
});

test("enrollmentconfig prints the agent's enrollment-service block", async () => {
  const cfg = parse(await ok(["enrollmentconfig"]));
  const es = cfg["enrollment-service"];
  assert.ok(es.authentication["client-certificate-data"]);
  assert.ok(es.authentication["client-key-data"]);
  assert.ok(es.service["certificate-authority-data"]);
});

test("completion scripts", async () => {
  assert.match(await ok(["completion", "bash"]), /complete -o default -F _flightctl flightctl/);
  assert.match(await ok(["completion", "zsh"]), /#compdef flightctl/);
});

test("get --watch prints changes as they happen", async () => {
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, [BIN, "get", "devices", "-l", "watched=yes", "--watch", "-o", "name"], {
    env: { ...process.env, FLIGHTCTL_CONFIG_DIR: cfgDir },
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
  const closed = new Promise((r) => child.on("close", r));
  try {
    await new Promise((r) => setTimeout(r, 1500)); // the initial (empty) list and the stream's opening
    await ok(["apply", "-f", "-"], {
      input: 'apiVersion: v1beta1\nkind: Device\nmetadata:\n  name: watched-1\n  labels:\n    watched: "yes"\n',
    });
    await waitFor("the watch to print the new device", async () => out.includes("device/watched-1"), 20_000).catch((e: Error) => {
      throw new Error(`${e.message}; stdout: ${out}; stderr: ${err}`);
    });
  } finally {
    child.kill("SIGTERM");
    await closed;
  }
});

test("decommission a device", async () => {
  await ok(["apply", "-f", "-"], { input: "apiVersion: v1beta1\nkind: Device\nmetadata:\n  name: retiring\n" });
  assert.match(await ok(["decommission", "device/retiring"]), /device\/retiring decommissioning/);
  const d = parse(await ok(["get", "device/retiring", "-o", "yaml"]));
  assert.equal(d.spec.decommissioning.target, "Unenroll");
  // The SYSTEM column says what is happening to it rather than its last summary.
  const row = (await ok(["get", "device/retiring"])).split("\n").find((l) => l.startsWith("retiring"));
  assert.match(row ?? "", /^retiring\s+<none>\s+Decommissioning\s/);
  const r = await cli(["decommission", "device/retiring", "-t", "factoryreset"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--target "factoryreset" is not supported/);
});

// flightctl-standalone render quadlets|config: a sample service-config.yaml rendered and compared with files written
// by hand (test/fixtures/standalone/expected/), every rendered quadlet checked against podman's quadlet rules (the
// sections and keys podman 4.9 documents, unit names, and that every network, volume and service a unit names is
// rendered too), and bad configs refused with the key named. Debian's podman 4.3 has no quadlet generator
// (/usr/libexec/podman/quadlet); when one exists it checks the files as well.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { parseServiceConfig, ServiceConfigError } from "../server/standalone/service-config.js";
import { renderConfig, renderQuadlets } from "../server/standalone/render.js";

const FIXTURES = join(import.meta.dirname, "fixtures/standalone");
const HOST = { hostname: "edge-01.lab.example.org", ipv4: "192.0.2.10" };

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? filesUnder(join(dir, n)).map((f) => `${n}/${f}`) : [n]));
}

function renderWithBin(kind: "quadlets" | "config", config: string): { dir: string; code: number; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), "fc-standalone-"));
  const r = spawnSync(process.execPath, ["bin/flightctl-standalone.js", "render", kind, "--config", config, "--output-dir", dir], {
    encoding: "utf8",
  });
  return { dir, code: r.status ?? -1, stderr: r.stderr };
}

test("render quadlets and config: the sample matches the hand-written files", () => {
  for (const kind of ["quadlets", "config"] as const) {
    const { dir, code, stderr } = renderWithBin(kind, join(FIXTURES, "service-config.yaml"));
    try {
      assert.equal(code, 0, stderr);
      const expectedDir = join(FIXTURES, "expected", kind);
      for (const f of filesUnder(expectedDir))
        assert.equal(readFileSync(join(dir, f), "utf8"), readFileSync(join(expectedDir, f), "utf8"), `${kind}/${f}`);
      if (kind === "quadlets")
        assert.deepEqual(filesUnder(dir).sort(), [
          "flightctl-alert-exporter.container",
          "flightctl-alertmanager-proxy.container",
          "flightctl-alertmanager.container",
          "flightctl-alertmanager.volume",
          "flightctl-api.container",
          "flightctl-data.volume",
          "flightctl-db-migrate.container",
          "flightctl-db.container",
          "flightctl-db.volume",
          "flightctl-kv.container",
          "flightctl-kv.volume",
          "flightctl-periodic.container",
          "flightctl-prometheus.container",
          "flightctl-prometheus.volume",
          "flightctl-telemetry-gateway.container",
          "flightctl-userinfo-proxy.container",
          "flightctl-worker-1.container",
          "flightctl-worker-2.container",
          "flightctl.network",
        ]);
      else {
        // The rendered configs are what the processes read: YAML that parses, env files of KEY=value lines.
        const prom = parse(readFileSync(join(dir, "flightctl-prometheus/prometheus.yml"), "utf8"));
        assert.deepEqual(prom.scrape_configs[1].static_configs[0].targets, [
          "flightctl-worker-1:9091",
          "flightctl-worker-2:9091",
          "flightctl-periodic:9091",
        ]);
        for (const f of filesUnder(dir).filter((x) => x.endsWith("/env")))
          for (const line of readFileSync(join(dir, f), "utf8")
            .split("\n")
            .filter((l) => l && !l.startsWith("#")))
            assert.match(line, /^[A-Z_]+=\S+$/, `${f}: ${line}`);
        assert.ok(!existsSync(join(dir, "flightctl-pam-issuer/env")), "AAP login renders no PAM issuer");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

/** podman 4.9's quadlet keys per section of each file type (podman-systemd.unit(5)), the ones this project may use. */
const QUADLET_KEYS: Record<string, Record<string, string[]>> = {
  container: {
    Container: [
      "ContainerName",
      "Image",
      "Exec",
      "Network",
      "EnvironmentFile",
      "Environment",
      "Secret",
      "Volume",
      "PublishPort",
      "HealthCmd",
      "User",
      "Group",
      "Label",
      "Annotation",
      "Notify",
      "PodmanArgs",
      "WorkingDir",
    ],
  },
  volume: { Volume: ["VolumeName", "Label", "Driver", "Options", "Device", "Type", "Copy"] },
  network: { Network: ["NetworkName", "Internal", "Subnet", "Gateway", "Label", "DisableDNS", "Driver"] },
};
const SYSTEMD_SECTIONS = ["Unit", "Service", "Install"];

/** podman's naming rule: name.container → name.service, name.volume → name-volume.service, name.network → name-network.service. */
const serviceOf = (file: string) => file.replace(/\.container$/, ".service").replace(/\.(volume|network|pod)$/, "-$1.service");

function checkQuadlets(files: Map<string, string>): string[] {
  const problems: string[] = [];
  const services = new Set([...files.keys()].map(serviceOf));
  for (const [file, text] of files) {
    const type = /\.(\w+)$/.exec(file)?.[1] ?? "";
    const allowed = QUADLET_KEYS[type];
    if (!allowed) {
      problems.push(`${file}: not a quadlet file type`);
      continue;
    }
    let section = "";
    const seen = new Set<string>();
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("#")) continue;
      const s = /^\[(\w+)\]$/.exec(line);
      if (s) {
        section = s[1];
        if (!SYSTEMD_SECTIONS.includes(section) && !allowed[section])
          problems.push(`${file}: section [${section}] is not allowed in a .${type}`);
        seen.add(section);
        continue;
      }
      const kv = /^(\w+)=(.+)$/.exec(line);
      if (!kv) {
        problems.push(`${file}: "${line}" is not key=value`);
        continue;
      }
      const [, key, value] = kv;
      if (allowed[section] && !allowed[section].includes(key)) problems.push(`${file}: [${section}] ${key} is not a quadlet key`);
      // What a unit names must exist: networks and volumes rendered beside it, services generated from them.
      if (key === "Network" && value.endsWith(".network") && !files.has(value)) problems.push(`${file}: network ${value} is not rendered`);
      const vol = /^([\w-]+\.volume):/.exec(value);
      if (key === "Volume" && vol && !files.has(vol[1])) problems.push(`${file}: volume ${vol[1]} is not rendered`);
      if (key === "Volume" && !vol && !value.startsWith("/"))
        problems.push(`${file}: volume ${value} is neither a .volume nor a host path`);
      if ((key === "After" || key === "Requires") && section === "Unit")
        for (const dep of value.split(" ")) if (!services.has(dep)) problems.push(`${file}: ${key} ${dep} is no unit rendered here`);
    }
    if (type === "container" && !/^Image=\S+$/m.test(text)) problems.push(`${file}: no Image=`);
    if (!seen.has(Object.keys(allowed)[0])) problems.push(`${file}: no [${Object.keys(allowed)[0]}] section`);
  }
  return problems;
}

test("every rendered quadlet follows podman's rules, for each kind of config", () => {
  const configs = [
    readFileSync(join(FIXTURES, "service-config.yaml"), "utf8"),
    "{}",
    "global: {auth: {type: oidc, oidc: {issuer: 'https://idp.example.com/realms/x', clientId: fc}}}\ndb: {type: external, external: {hostname: db.example.com}}",
    "global: {auth: {type: none}}\nworker: {replicas: 3}",
  ];
  for (const text of configs) {
    const files = renderQuadlets(parseServiceConfig(text, HOST));
    assert.deepEqual(checkQuadlets(files), [], text);
    // Every process of this project is there.
    for (const p of [
      "flightctl-api",
      "flightctl-periodic",
      "flightctl-telemetry-gateway",
      "flightctl-alert-exporter",
      "flightctl-alertmanager-proxy",
    ])
      assert.ok(files.has(`${p}.container`), `${p} missing for ${text}`);
  }
  // The checker itself catches what podman would refuse.
  const broken = new Map([["x.container", "[Container]\nImage=a\nNetwork=missing.network\nPorts=1\n[Unit]\nAfter=nothing.service\n"]]);
  assert.equal(checkQuadlets(broken).length, 3);

  // podman's own generator, where this machine has it (podman ≥ 4.4; Debian bookworm's 4.3 has none).
  const generator = "/usr/libexec/podman/quadlet";
  if (existsSync(generator)) {
    const dir = mkdtempSync(join(tmpdir(), "fc-quadlet-"));
    try {
      for (const [f, c] of renderQuadlets(parseServiceConfig(configs[0], HOST))) writeFileSync(join(dir, f), c);
      const out = execFileSync(generator, ["-dryrun"], { env: { ...process.env, QUADLET_UNIT_DIRS: dir }, encoding: "utf8" });
      assert.match(out, /flightctl-api\.service/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test("defaults come from the host: the base domain is its name, or its IPv4 address when the name is no domain", () => {
  const c = parseServiceConfig("", HOST);
  assert.equal(c.global.baseDomain, "edge-01.lab.example.org");
  assert.equal(c.global.auth.type, "pam");
  assert.equal(c.db.type, "builtin");
  assert.equal(c.service.eventRetentionDays, 7);
  assert.equal(parseServiceConfig("", { hostname: "edge01", ipv4: "192.0.2.10" }).global.baseDomain, "192.0.2.10");
  const env = renderConfig(c).get("flightctl-api/env")!;
  assert.match(env, /^FLIGHTCTL_AGENT_ENDPOINT_URL=https:\/\/edge-01\.lab\.example\.org:7443$/m);
  assert.match(
    renderConfig(c).get("flightctl-api/auth-providers.yaml")!,
    /issuer: https:\/\/edge-01\.lab\.example\.org:8444\/api\/v1\/auth/,
  );
});

test("a bad service-config.yaml is refused, every error naming its key", () => {
  const problems = (text: string) => {
    try {
      parseServiceConfig(text, HOST);
    } catch (e) {
      assert.ok(e instanceof ServiceConfigError, String(e));
      return e.problems.map((p) => p.key);
    }
    assert.fail(`accepted: ${text}`);
  };
  assert.deepEqual(problems("global: {auth: {type: aap}}"), ["global.auth.aap.apiUrl", "global.auth.aap.clientId"]);
  assert.deepEqual(problems("global: {auth: {type: ldap}}"), ["global.auth.type"]);
  assert.deepEqual(problems("db: {type: external, external: {port: 70000}}"), ["db.external.hostname", "db.external.port"]);
  assert.deepEqual(problems("worker: {replicas: 0}\nservice: {eventRetentionDays: '7'}"), [
    "worker.replicas",
    "service.eventRetentionDays",
  ]);
  assert.deepEqual(problems("global: {baseDomian: x}"), ["global.baseDomian"]);
  assert.deepEqual(problems("ports: {api: 7443}"), ["ports.api"]);
  assert.deepEqual(problems("global: {auth: {type: oidc, oidc: {issuer: 'not a url', clientId: x}}}"), ["global.auth.oidc.issuer"]);
  assert.deepEqual(problems("db: [1]"), ["db"]);
  assert.deepEqual(problems("global: {baseDomain: 'a b'}"), ["global.baseDomain"]);
  assert.deepEqual(problems("global: [unclosed"), ["(document)"]);
  // The bin prints them and exits 1.
  const dir = mkdtempSync(join(tmpdir(), "fc-standalone-bad-"));
  try {
    writeFileSync(join(dir, "bad.yaml"), "db: {type: external}\n");
    const r = renderWithBin("quadlets", join(dir, "bad.yaml"));
    rmSync(r.dir, { recursive: true, force: true });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /db\.external\.hostname: is required/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The git client against real servers on loopback: git http-backend behind http and https (basic and token auth,
// custom CA, client certificates) and OpenSSH's sshd (plain and passphrase-protected keys, host key checking).
import { assertNoOpenHandles } from "../../test/helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  createTestRepo,
  startGitHttpServer,
  startSshGitServer,
  type GitHttpServer,
  type SshGitServer,
  type TestRepo,
} from "../../test/helpers/git-servers.js";
import { runGitOk } from "./git-exec.js";
import { createGitClient, GitError, type GitFailure, type GitRepository } from "./git.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
/** A client with a cache of its own, so each test sees a cold cache unless it reuses the client. */
const client = (opts: Parameters<typeof createGitClient>[0] = {}) =>
  createGitClient({ cacheDir: tempDir("git-cache-"), timeoutMs: 20_000, ...opts });

async function rejectsWith(p: Promise<unknown>, reason: GitFailure, message?: RegExp, secrets: string[] = []): Promise<GitError> {
  const e = await p.then(
    () => assert.fail(`expected a GitError ${reason}`),
    (err: unknown) => err,
  );
  assert.ok(e instanceof GitError, `expected a GitError, got ${String(e)}`);
  assert.equal(e.reason, reason, e.message);
  if (message) assert.match(e.message, message);
  for (const s of secrets) assert.ok(!e.message.includes(s), `the message quotes a secret: ${e.message}`);
  return e;
}

/** Every file under `dir`, for checking that no secret was written to the cache. */
function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? allFiles(join(dir, d.name)) : [join(dir, d.name)]));
}

let root: string;
let repo: TestRepo;
let first: string; // initial commit on main (no longer a tip)
let second: string; // main
let devTip: string;
let plain: GitHttpServer;

before(async () => {
  root = tempDir("git-repos-");
  repo = await createTestRepo(root, "config", {
    "fleets/a.yaml": "a: 1\n",
    "fleets/nested/deeper/b.yaml": "b: 2\n",
    "scripts/run.sh": { content: "#!/bin/sh\necho hi\n", mode: 0o755 },
    "README.md": "# config\n",
  });
  first = await repo.commit({ "fleets/c.yaml": "c: 3\n" }, "add c");
  await repo.tag("v1", "main", "release 1"); // annotated: must peel to the commit
  second = await repo.commit({ "fleets/c.yaml": null, "fleets/a.yaml": "a: 2\n", "bin/data": Buffer.from([0, 1, 2, 255]) }, "second");
  await repo.tag("v2"); // lightweight
  devTip = await repo.commit({ "dev.txt": "dev\n" }, "on dev", "dev");
  plain = await startGitHttpServer({ root });
});

after(async () => {
  await plain.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await assertNoOpenHandles();
});

describe("resolve and read over http", () => {
  test("resolves branches, tags (annotated ones peeled), full refs and full or abbreviated commits", async () => {
    const git = client();
    const r: GitRepository = { url: plain.url("config") };
    assert.equal(await git.resolve(r, "main"), second);
    assert.equal(await git.resolve(r, "dev"), devTip);
    assert.equal(await git.resolve(r, "refs/heads/main"), second);
    assert.equal(await git.resolve(r, "v1"), first);
    assert.equal(await git.resolve(r, "v2"), second);
    assert.equal(await git.resolve(r, first), first);
    assert.equal(await git.resolve(r, first.slice(0, 8)), first, "abbreviated id of a commit that is no tip");
    assert.equal(await git.resolve(r, second.slice(0, 7).toUpperCase()), second);
    await rejectsWith(git.resolve(r, "nope"), "RevisionNotFound", /revision "nope" not found/);
    await rejectsWith(git.resolve(r, "deadbeef"), "RevisionNotFound", /revision "deadbeef" not found/);
    await rejectsWith(git.resolve(r, "f".repeat(40)), "RevisionNotFound");
    await git.check(r);
  });

  test("reads a file, a directory recursively and the whole tree, with modes and binary content", async () => {
    const git = client();
    const r = { url: plain.url("config") };
    const dir = await git.readPath(r, second, "fleets");
    assert.deepEqual(dir.map((f) => [f.path, f.content.toString(), f.mode]).sort(), [
      ["fleets/a.yaml", "a: 2\n", 0o644],
      ["fleets/nested/deeper/b.yaml", "b: 2\n", 0o644],
    ]);
    const [script] = await git.readPath(r, second, "/scripts/run.sh");
    assert.deepEqual([script.path, script.content.toString(), script.mode], ["scripts/run.sh", "#!/bin/sh\necho hi\n", 0o755]);
    const old = await git.readPath(r, first, "fleets/");
    assert.deepEqual(old.map((f) => f.path).sort(), ["fleets/a.yaml", "fleets/c.yaml", "fleets/nested/deeper/b.yaml"]);
    const all = await git.readPath(r, second, "");
    assert.deepEqual(all.map((f) => f.path).sort(), [
      "README.md",
      "bin/data",
      "fleets/a.yaml",
      "fleets/nested/deeper/b.yaml",
      "scripts/run.sh",
    ]);
    assert.deepEqual(all.find((f) => f.path === "bin/data")!.content, Buffer.from([0, 1, 2, 255]));
    // A branch name is resolved first.
    assert.deepEqual((await git.readPath(r, "dev", "dev.txt"))[0].content.toString(), "dev\n");
  });

  test("missing path or commit", async () => {
    const git = client();
    const r = { url: plain.url("config") };
    await rejectsWith(
      git.readPath(r, second, "fleets/x"),
      "PathNotFound",
      new RegExp(`path "fleets/x" not found at commit ${second.slice(0, 7)}`),
    );
    await rejectsWith(git.readPath(r, second, "fleets/*"), "PathNotFound", /not found/, []);
    await rejectsWith(git.readPath(r, "0123456789".repeat(4), "fleets"), "RevisionNotFound", /not found/);
    await rejectsWith(git.readPath(r, "nope", "fleets"), "RevisionNotFound", /revision "nope" not found/);
  });

  test("limits are enforced before content is loaded", async () => {
    const git = client();
    const r = { url: plain.url("config") };
    await rejectsWith(
      git.readPath(r, second, "fleets", { maxFileBytes: 4 }),
      "TooLarge",
      /file "fleets\/(a|nested\/deeper\/b)\.yaml" at commit \w{7} is 5 bytes, more than the limit of 4/,
    );
    await rejectsWith(git.readPath(r, second, "fleets", { maxFiles: 1 }), "TooLarge", /holds 2 files, more than the limit of 1/);
    await rejectsWith(git.readPath(r, second, "", { maxTotalBytes: 20 }), "TooLarge", /more than the limit of 20/);
    assert.equal((await git.readPath(r, second, "fleets", { maxFiles: 2, maxFileBytes: 5, maxTotalBytes: 10 })).length, 2);
  });

  test("a commit already fetched is read without a request to the server", async () => {
    const git = client();
    const r = { url: plain.url("config") };
    await git.readPath(r, second, "fleets");
    const before = plain.requests;
    assert.equal((await git.readPath(r, second, "fleets")).length, 2);
    assert.equal((await git.readPath(r, second, "scripts/run.sh")).length, 1);
    await rejectsWith(git.readPath(r, second, "nothing/here"), "PathNotFound");
    assert.equal(plain.requests, before, "no request for a cached commit");
    // A new commit on the server is fetched once, then cached too.
    const third = await repo.commit({ "fleets/d.yaml": "d\n" }, "third", "other");
    assert.equal(await git.resolve(r, "other"), third);
    await git.readPath(r, third, "fleets/d.yaml");
    const after = plain.requests;
    await git.readPath(r, third, "fleets");
    assert.equal(plain.requests, after);
  });

  test("only the commit needed is fetched, shallow; servers that refuse unadvertised commits get a fallback", async () => {
    const cacheDir = tempDir("git-cache-");
    const git = createGitClient({ cacheDir });
    const r = { url: plain.url("config") };
    assert.equal((await git.readPath(r, first, "fleets")).length, 3);
    const [cached] = readdirSync(cacheDir).filter((n) => n.endsWith(".git"));
    const count = async () => (await runGitOk(["--git-dir", join(cacheDir, cached), "rev-list", "--all", "--count"])).toString().trim();
    assert.equal(await count(), "1", "one commit, not the history");
    // Protocol v0 without allowReachableSHA1InWant: tips are fetched, then the history for an older commit.
    const v0 = await startGitHttpServer({ root, protocolV0: true });
    try {
      const old = client();
      const r0 = { url: v0.url("config") };
      assert.equal((await old.readPath(r0, second, "fleets")).length, 2);
      assert.equal((await old.readPath(r0, first, "fleets")).length, 3);
      assert.equal(await old.resolve(r0, first.slice(0, 8)), first);
      await rejectsWith(old.readPath(r0, "1".repeat(40), "fleets"), "RevisionNotFound", /commit 1111111 not found in http:/);
    } finally {
      await v0.close();
    }
  });

  test("concurrent calls on one repository and cache are safe", async () => {
    const git = client();
    const r = { url: plain.url("config") };
    const results = await Promise.all([
      ...Array.from({ length: 6 }, (_, i) => git.readPath(r, i % 2 ? first : second, "fleets")),
      git.resolve(r, first.slice(0, 9)),
      git.resolve(r, "dev"),
      git.readPath(r, devTip, "dev.txt"),
    ]);
    for (let i = 0; i < 6; i++) assert.equal((results[i] as unknown[]).length, i % 2 ? 3 : 2);
    assert.equal(results[6], first);
    assert.equal(results[7], devTip);
    // Two clients (as two processes would) sharing one cache dir.
    const cacheDir = tempDir("git-cache-shared-");
    const [a, b] = [createGitClient({ cacheDir }), createGitClient({ cacheDir })];
    const both = await Promise.all([
      a.readPath(r, second, "fleets"),
      b.readPath(r, second, "fleets"),
      a.readPath(r, first, ""),
      b.readPath(r, first, ""),
    ]);
    assert.deepEqual(
      both.map((f) => f.length),
      [2, 2, 5, 5],
    );
  });

  test("unreachable, missing repository, timeout, unsupported URL", async () => {
    const git = client({ timeoutMs: 1500 });
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await rejectsWith(
      git.check({ url: `http://127.0.0.1:${port}/x.git` }),
      "Unreachable",
      new RegExp(`cannot reach 127.0.0.1:${port}: connection refused`),
    );
    await rejectsWith(
      git.check({ url: plain.url("missing") }),
      "RepositoryNotFound",
      /repository not found at http:\/\/127\.0\.0\.1:\d+\/missing\.git/,
    );
    // A server that accepts the connection and never answers.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    try {
      await rejectsWith(
        git.check({ url: `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/x.git` }),
        "Timeout",
        /timed out after 1.5 s/,
      );
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
    await rejectsWith(git.check({ url: "file:///etc" }), "Failed", /unsupported repository URL/);
    await rejectsWith(git.check({ url: "-oProxyCommand=touch /tmp/x:repo" }), "Failed", /unsupported repository URL/);
  });
});

describe("https", () => {
  let basic: GitHttpServer;
  let token: GitHttpServer;
  let tls: GitHttpServer;
  let mtls: GitHttpServer;
  before(async () => {
    [basic, token, tls, mtls] = await Promise.all([
      startGitHttpServer({ root, auth: { username: "ann", password: "s3cret-pw" } }),
      startGitHttpServer({ root, auth: { token: "tok-123456" } }),
      startGitHttpServer({ root, tls: {} }),
      startGitHttpServer({ root, tls: { clientCa: true } }),
    ]);
  });
  after(async () => {
    await Promise.all([basic, token, tls, mtls].map((s) => s.close()));
  });

  test("basic auth: right credentials work, wrong ones fail without quoting them", async () => {
    const cacheDir = tempDir("git-cache-");
    const git = createGitClient({ cacheDir });
    const ok: GitRepository = { url: basic.url("config"), httpConfig: { username: "ann", password: "s3cret-pw" } };
    await git.check(ok);
    assert.equal((await git.readPath(ok, await git.resolve(ok, "main"), "fleets")).length, 2);
    const wrong = { url: basic.url("config"), httpConfig: { username: "ann", password: "wrong-pw-42" } };
    const e = await rejectsWith(
      git.check(wrong),
      "AuthenticationFailed",
      /authentication failed for http:\/\/127\.0\.0\.1:\d+\/config\.git: check the repository's credentials/,
      ["wrong-pw-42", b64("ann:wrong-pw-42")],
    );
    assert.ok(!e.stack?.includes("wrong-pw-42"));
    await rejectsWith(git.resolve({ url: basic.url("config") }, "main"), "AuthenticationFailed");
    // Credentials in the URL are used as basic auth and kept out of messages.
    const inUrl = { url: basic.url("config").replace("//", "//ann:wrong-pw-42@") };
    await rejectsWith(git.check(inUrl), "AuthenticationFailed", /authentication failed for http:\/\/127/, ["wrong-pw-42"]);
    await git.check({ url: basic.url("config").replace("//", "//ann:s3cret-pw@") });
    // Nothing in the cache holds a credential, and the credential temp files are gone.
    assert.deepEqual(readdirSync(join(cacheDir, "tmp")), []);
    for (const f of allFiles(cacheDir)) {
      const text = readFileSync(f).toString("latin1");
      for (const s of ["s3cret-pw", b64("ann:s3cret-pw")]) assert.ok(!text.includes(s), `${f} holds a credential`);
    }
  });

  test("the cache is not shared between different credentials", async () => {
    const git = client();
    const ok = { url: basic.url("config"), httpConfig: { username: "ann", password: "s3cret-pw" } };
    await git.readPath(ok, second, "fleets");
    await rejectsWith(
      git.readPath({ url: basic.url("config"), httpConfig: { username: "ann", password: "guess" } }, second, "fleets"),
      "AuthenticationFailed",
    );
  });

  test("token auth", async () => {
    const git = client();
    const r = { url: token.url("config"), httpConfig: { token: "tok-123456" } };
    assert.equal(await git.resolve(r, "v2"), second);
    assert.equal((await git.readPath(r, second, "README.md"))[0].content.toString(), "# config\n");
    await rejectsWith(
      git.check({ url: token.url("config"), httpConfig: { token: "tok-wrong-9" } }),
      "AuthenticationFailed",
      /check the repository's credentials/,
      ["tok-wrong-9"],
    );
  });

  test("custom CA, or skipping server verification", async () => {
    const git = client();
    await rejectsWith(
      git.check({ url: tls.url("config") }),
      "AuthenticationFailed",
      /server certificate verification failed for https:\/\/127\.0\.0\.1/,
    );
    const r = { url: tls.url("config"), httpConfig: { "ca.crt": b64(tls.caPem!) } };
    await git.check(r);
    assert.equal((await git.readPath(r, await git.resolve(r, "main"), "scripts")).length, 1);
    await git.check({ url: tls.url("config"), httpConfig: { skipServerVerification: true } });
  });

  test("client certificate", async () => {
    const git = client();
    const ca = b64(mtls.caPem!);
    const r = {
      url: mtls.url("config"),
      httpConfig: { "ca.crt": ca, "tls.crt": b64(mtls.clientCertPem!), "tls.key": b64(mtls.clientKeyPem!) },
    };
    await git.check(r);
    assert.equal((await git.readPath(r, second, "fleets/a.yaml"))[0].content.toString(), "a: 2\n");
    await rejectsWith(git.check({ url: mtls.url("config"), httpConfig: { "ca.crt": ca } }), "AuthenticationFailed");
  });
});

describe("ssh", () => {
  let ssh: SshGitServer;
  before(async () => {
    ssh = await startSshGitServer({ root });
  });
  after(async () => {
    await ssh?.close();
  });

  test("a plain key: resolve and read", async (t) => {
    const git = client({ knownHostsFile: ssh.knownHostsFile });
    const r: GitRepository = { url: ssh.url("config"), sshConfig: { sshPrivateKey: b64(ssh.clientKeyPem) } };
    try {
      await git.check(r);
      assert.equal(await git.resolve(r, "main"), second);
      assert.equal(await git.resolve(r, first.slice(0, 10)), first);
      const files = await git.readPath(r, second, "scripts");
      assert.deepEqual(
        files.map((f) => [f.path, f.mode]),
        [["scripts/run.sh", 0o755]],
      );
    } catch (e) {
      t.diagnostic(ssh.logs());
      throw e;
    }
    // scp-like syntax is not usable with a port; the ssh:// form covers it.
    await rejectsWith(
      git.check({ url: ssh.url("missing"), sshConfig: r.sshConfig }),
      "RepositoryNotFound",
      /repository not found at ssh:\/\//,
    );
  });

  test("a passphrase-protected key", async () => {
    const git = client({ knownHostsFile: ssh.knownHostsFile });
    const key = b64(ssh.encryptedClientKeyPem);
    const r = { url: ssh.url("config"), sshConfig: { sshPrivateKey: key, privateKeyPassphrase: ssh.passphrase } };
    assert.equal(await git.resolve(r, "dev"), devTip);
    assert.equal((await git.readPath(r, devTip, "dev.txt")).length, 1);
    await rejectsWith(
      git.check({ url: ssh.url("config"), sshConfig: { sshPrivateKey: key, privateKeyPassphrase: "not-the-one" } }),
      "AuthenticationFailed",
      /authentication failed for ssh:\/\/.*check the repository's credentials/,
      ["not-the-one", ssh.passphrase],
    );
    await rejectsWith(git.check({ url: ssh.url("config"), sshConfig: { sshPrivateKey: key } }), "AuthenticationFailed");
    await rejectsWith(git.check({ url: ssh.url("config") }), "AuthenticationFailed", /authentication failed/);
  });

  test("an unknown host key fails unless server verification is skipped", async () => {
    const emptyKnownHosts = join(tempDir("git-kh-"), "known_hosts");
    writeFileSync(emptyKnownHosts, "");
    const git = client({ knownHostsFile: emptyKnownHosts });
    const sshConfig = { sshPrivateKey: b64(ssh.clientKeyPem) };
    const port = new URL(ssh.url("config")).port;
    await rejectsWith(
      git.check({ url: ssh.url("config"), sshConfig }),
      "AuthenticationFailed",
      new RegExp(`host key verification failed for 127\\.0\\.0\\.1:${port}`),
    );
    await git.check({ url: ssh.url("config"), sshConfig: { ...sshConfig, skipServerVerification: true } });
    assert.equal(readFileSync(emptyKnownHosts, "utf8"), "", "the known hosts file is never written");
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const free = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await rejectsWith(
      git.check({ url: `ssh://git@127.0.0.1:${free}/x.git`, sshConfig }),
      "Unreachable",
      new RegExp(`cannot reach 127\\.0\\.0\\.1:${free}: connection refused`),
    );
  });
});

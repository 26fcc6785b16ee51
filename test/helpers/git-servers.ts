// Real git servers for tests: bare repositories written with git plumbing, `git http-backend` (CGI) behind node:http or
// node:https (basic/token auth, custom CA, client certificates), and Debian's OpenSSH sshd on a free loopback port.
// Everything runs as the current user in temp dirs the caller owns; close() stops the server.
//
//   const root = mkdtempSync(join(tmpdir(), "git-"));
//   const repo = await createTestRepo(root, "fleets", { "fleets/a.yaml": "..." });
//   const http = await startGitHttpServer({ root, auth: { username: "ann", password: "secret" } });
//   http.url("fleets") // → http://127.0.0.1:PORT/fleets.git
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { runGitOk } from "../../server/repositories/git-exec.js";
import { createCa, issueServerCert } from "../../server/platform/pki/ca.js";
import { generateDeviceKey } from "../../lib/csr.js";
import { signClientCertificate } from "../../server/platform/pki/signer.js";
import { freePort } from "./ports.js";

/** A file to commit: its content (mode 0644), or content with an explicit mode (0o644, 0o755). */
export type TestFile = string | Buffer | { content: string | Buffer; mode: number };

export interface TestRepo {
  name: string;
  bareDir: string;
  /** Commits the files (null deletes) on `branch` (default main), returns the commit id. */
  commit(files: Record<string, TestFile | null>, message?: string, branch?: string): Promise<string>;
  /** Tags `ref` (default main); annotated when `message` is given. */
  tag(name: string, ref?: string, message?: string): Promise<void>;
}

const ZERO = "0".repeat(40);
// Fixed identity and no user/system config: commits do not depend on the machine running the tests.
const GIT_ENV = {
  GIT_AUTHOR_NAME: "Test",
  GIT_AUTHOR_EMAIL: "test@example.com",
  GIT_COMMITTER_NAME: "Test",
  GIT_COMMITTER_EMAIL: "test@example.com",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
};

/** A bare repository at `root/<name>.git` with default branch main; `files`, when given, are its first commit. */
export async function createTestRepo(root: string, name: string, files?: Record<string, TestFile>): Promise<TestRepo> {
  const bareDir = join(root, `${name}.git`);
  mkdirSync(root, { recursive: true });
  await runGitOk(["init", "--quiet", "--bare", "--initial-branch=main", bareDir], { env: GIT_ENV });
  const git = (args: string[], input?: string | Buffer, env: Record<string, string> = {}) =>
    runGitOk(args, { env: { ...GIT_ENV, GIT_DIR: bareDir, ...env }, input }).then((b) => b.toString("utf8").trim());
  const tip = (branch: string) => git(["for-each-ref", "--format=%(objectname)", `refs/heads/${branch}`]).then((s) => s || undefined);

  const repo: TestRepo = {
    name,
    bareDir,
    async commit(changes, message = "test commit", branch = "main") {
      const parent = await tip(branch);
      // A throwaway index: a bare repository has no work tree, so the tree is built with plumbing.
      const indexDir = mkdtempSync(join(tmpdir(), "git-index-"));
      const env = { GIT_INDEX_FILE: join(indexDir, "index") };
      try {
        await git(parent ? ["read-tree", parent] : ["read-tree", "--empty"], undefined, env);
        const lines: string[] = [];
        for (const [path, file] of Object.entries(changes)) {
          if (file === null) {
            lines.push(`0 ${ZERO}\t${path}`);
            continue;
          }
          const { content, mode } = typeof file === "string" || Buffer.isBuffer(file) ? { content: file, mode: 0o644 } : file;
          const blob = await git(["hash-object", "-w", "--stdin"], content);
          lines.push(`100${(mode & 0o111 ? 0o755 : 0o644).toString(8)} ${blob}\t${path}`);
        }
        await git(["update-index", "--index-info"], lines.map((l) => `${l}\n`).join(""), env);
        const tree = await git(["write-tree"], undefined, env);
        const commit = await git(["commit-tree", tree, ...(parent ? ["-p", parent] : []), "-m", message]);
        await git(["update-ref", `refs/heads/${branch}`, commit, parent ?? ZERO]);
        return commit;
      } finally {
        rmSync(indexDir, { recursive: true, force: true });
      }
    },
    async tag(tagName, ref = "main", message) {
      await git(message === undefined ? ["tag", tagName, ref] : ["tag", "-a", "-m", message, tagName, ref]);
    },
  };
  if (files && Object.keys(files).length > 0) await repo.commit(files, "initial commit");
  return repo;
}

export interface GitHttpServer {
  /** Clone URL of `root/<name>.git`. */
  url(name: string): string;
  /** PEM of the CA that issued the https server certificate (https only). */
  caPem?: string;
  /** A client certificate and key the server accepts (tls.clientCa only). */
  clientCertPem?: string;
  clientKeyPem?: string;
  /** Count of git requests served so far (including rejected ones). */
  readonly requests: number;
  close(): Promise<void>;
}

export interface GitHttpServerOptions {
  root: string;
  /** Basic auth (username/password) or a bearer token (`Authorization: Bearer <token>`). */
  auth?: { username: string; password: string } | { token: string };
  /** Serve https; with clientCa the server requires a client certificate from its own client CA. */
  tls?: { clientCa?: boolean };
  /** Ignore the client's Git-Protocol header: protocol v0, where only advertised tips may be fetched (old servers). */
  protocolV0?: boolean;
  /** Listen on this port (e.g. to come back where a closed server was); default a free one. */
  port?: number;
}

function authorized(auth: GitHttpServerOptions["auth"], header: string | undefined): boolean {
  if (!auth) return true;
  const expected =
    "token" in auth ? `Bearer ${auth.token}` : `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
  return header === expected;
}

/** Serves one request through `git http-backend` (CGI): headers in as env, body piped, CGI headers parsed back. */
function serveCgi(root: string, req: http.IncomingMessage, res: http.ServerResponse, protocolV0 = false) {
  const u = new URL(req.url ?? "/", "http://x");
  const h = req.headers;
  const env: Record<string, string> = {
    ...GIT_ENV,
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: "1",
    REQUEST_METHOD: req.method ?? "GET",
    PATH_INFO: decodeURIComponent(u.pathname),
    QUERY_STRING: u.search.slice(1),
    REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
  };
  if (h["content-type"]) env.CONTENT_TYPE = h["content-type"];
  if (h["content-length"]) env.CONTENT_LENGTH = h["content-length"];
  if (h["content-encoding"]) env.HTTP_CONTENT_ENCODING = String(h["content-encoding"]);
  // Protocol v2 is asked for in the Git-Protocol header; http-backend reads it from the environment.
  if (h["git-protocol"] && !protocolV0) env.HTTP_GIT_PROTOCOL = env.GIT_PROTOCOL = String(h["git-protocol"]);
  const child = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] });
  req.pipe(child.stdin);
  child.stdin.on("error", () => {});
  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on("data", (chunk: Buffer) => {
    if (headersDone) return void res.write(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    headersDone = true;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
      const i = line.indexOf(":");
      const [k, v] = [line.slice(0, i).trim(), line.slice(i + 1).trim()];
      if (k.toLowerCase() === "status") status = parseInt(v, 10);
      else headers[k] = v;
    }
    res.writeHead(status, headers);
    res.write(head.subarray(end + 4));
  });
  let stderr = "";
  child.stderr.on("data", (c) => (stderr += c));
  child.on("close", (code) => {
    if (!headersDone) res.writeHead(500).end(`http-backend failed (${code}): ${stderr}`);
    else res.end();
  });
}

/** `git http-backend` behind node:http(s) on 127.0.0.1:0, serving every bare repository under `root`. */
export async function startGitHttpServer(opts: GitHttpServerOptions): Promise<GitHttpServer> {
  let requests = 0;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests++;
    if (!authorized(opts.auth, req.headers.authorization)) {
      req.resume();
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="git"' }).end();
      return;
    }
    serveCgi(opts.root, req, res, opts.protocolV0);
  };
  let server: http.Server;
  let tlsMaterial: Pick<GitHttpServer, "caPem" | "clientCertPem" | "clientKeyPem"> = {};
  if (opts.tls) {
    const ca = await createCa("git test server CA");
    const cert = await issueServerCert(ca, ["127.0.0.1", "localhost"]);
    tlsMaterial.caPem = ca.certPem;
    let clientCa: string | undefined;
    if (opts.tls.clientCa) {
      const signer = await createCa("git test client CA");
      const keys = await generateDeviceKey();
      const client = await signClientCertificate(signer, {
        publicKey: keys.publicKey,
        commonName: "git-client",
        signerName: "test",
        orgId: "test",
        validitySeconds: 3600,
      });
      tlsMaterial = { ...tlsMaterial, clientCertPem: client.certPem, clientKeyPem: keys.keyPem };
      clientCa = signer.certPem;
    }
    server = https.createServer(
      { cert: cert.certPem, key: cert.keyPem, ...(clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: true } : {}) },
      handler,
    );
  } else server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const scheme = opts.tls ? "https" : "http";
  return {
    url: (name) => `${scheme}://127.0.0.1:${port}/${name}.git`,
    ...tlsMaterial,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface SshGitServer {
  /** ssh:// clone URL of `root/<name>.git` for the current user. */
  url(name: string): string;
  /** An unencrypted client key (traditional PEM, ECDSA) the server accepts. */
  clientKeyPem: string;
  /** A passphrase-protected client key (OpenSSH format, ed25519) the server accepts. */
  encryptedClientKeyPem: string;
  passphrase: string;
  /** A known_hosts file holding this server's host key. */
  knownHostsFile: string;
  /** What sshd logged so far (for failing tests). */
  logs(): string;
  close(): Promise<void>;
}

export const SSHD = "/usr/sbin/sshd";

async function keygen(file: string, type: "ed25519" | "ecdsa", passphrase = "", pem = false) {
  await run("ssh-keygen", ["-q", "-t", type, "-N", passphrase, "-C", "git-test", "-f", file, ...(pem ? ["-m", "PEM"] : [])]);
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c) => (err += c));
    child.on("error", (e) => reject(new Error(`cannot run ${cmd}: ${e.message}`)));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed (${code}): ${err}`))));
  });
}

/** Waits for sshd's "Server listening" line; rejects with its log when it exits first. */
function listening(child: ChildProcess, log: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start listening within 10 s:\n${log()}`)), 10_000);
    const onData = () => {
      if (/Server listening on/.test(log())) {
        clearTimeout(timer);
        child.stderr!.off("data", onData);
        child.off("exit", onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited (${code}) before listening:\n${log()}`));
    };
    child.stderr!.on("data", onData);
    child.once("exit", onExit);
  });
}

/**
 * Debian's sshd in the foreground on 127.0.0.1:<free port>, with a fresh host key, accepting two generated client
 * keys (one plain, one passphrase-protected) for the current user. Throws (never skips) when sshd is missing.
 */
export async function startSshGitServer(opts: { root: string }): Promise<SshGitServer> {
  if (!existsSync(SSHD)) {
    throw new Error(`${SSHD} not found: the ssh git tests need Debian's openssh-server (apt-get install -y openssh-server)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "git-sshd-"));
  const passphrase = randomBytes(12).toString("hex");
  await Promise.all([
    keygen(join(dir, "host_key"), "ed25519"),
    keygen(join(dir, "client_key"), "ecdsa", "", true),
    keygen(join(dir, "client_key_enc"), "ed25519", passphrase),
  ]);
  const pub = (f: string) => readFileSync(join(dir, `${f}.pub`), "utf8").trim();
  writeFileSync(join(dir, "authorized_keys"), `${pub("client_key")}\n${pub("client_key_enc")}\n`, { mode: 0o600 });
  // As root, sshd insists on its privilege separation directory (normally made by systemd's tmpfiles).
  if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const user = userInfo().username;
  const port = await freePort();
  const config = [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${join(dir, "host_key")}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "StrictModes no",
    "UsePAM no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "PermitRootLogin prohibit-password",
    `AllowUsers ${user}`,
    // Lets git speak protocol v2 over ssh (the client sends GIT_PROTOCOL with SendEnv).
    "AcceptEnv GIT_PROTOCOL",
    // bash sources ~/.bashrc for ssh commands only at shell level 1; a slow .bashrc (pyenv init…) would add seconds
    // to every git call.
    "SetEnv SHLVL=1",
    "PrintMotd no",
    "LogLevel VERBOSE",
  ];
  writeFileSync(join(dir, "sshd_config"), `${config.join("\n")}\n`);
  writeFileSync(join(dir, "known_hosts"), `[127.0.0.1]:${port} ${pub("host_key")}\n`);
  const child = spawn(SSHD, ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (c: string) => (log = (log + c).slice(-256 * 1024)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await listening(child, () => log);
  } catch (e) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: (name) => `ssh://${user}@127.0.0.1:${port}${join(opts.root, `${name}.git`)}`,
    clientKeyPem: readFileSync(join(dir, "client_key"), "utf8"),
    encryptedClientKeyPem: readFileSync(join(dir, "client_key_enc"), "utf8"),
    passphrase,
    knownHostsFile: join(dir, "known_hosts"),
    logs: () => log,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// How git reaches a repository without a credential ever appearing in argv, a URL on disk, a log or a message:
// https credentials go in an `http.extraHeader` set through GIT_CONFIG_COUNT/KEY_n/VALUE_n (environment, not argv),
// certificates and ssh keys in 0600 files of a private temp dir removed after the call, an ssh key passphrase through
// SSH_ASKPASS (a tiny script that prints an environment variable). git never prompts and never reads the user's or the
// system's git config (a credential helper there could store or prompt).
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GitError, redactor, type RemoteLabel } from "./git-error.js";
import { pidAlive } from "./git-exec.js";
import type { GitRepository } from "./git-types.js";

export interface RemoteOptions {
  knownHostsFile: string;
  timeoutMs: number;
  /** Where the private temp dirs for credential files are made (an existing dir only we can read). */
  tempRoot: string;
}

/** A repository ready to be talked to; dispose() removes its temp files. */
export interface Remote extends RemoteLabel {
  /** What git is given: the URL without credentials. */
  url: string;
  /** Identifies the repository and the credentials used, for the cache (never written anywhere as is). */
  identity: string;
  env: Record<string, string | undefined>;
  dispose(): void;
}

interface ParsedUrl {
  kind: "http" | "ssh";
  url: string;
  hostPort: string;
  username?: string;
  password?: string;
}

const SCP_LIKE = /^(?:([^@/\s]+)@)?([^:/\s]+):(?!\/\/)(.+)$/;
// A host or user beginning with "-" would be read by ssh as an option (CVE-2017-1000117 style).
const SAFE_NAME = /^[A-Za-z0-9_.~%+[\]:-]+$/;

function unsupported(raw: string): GitError {
  return new GitError(
    "Failed",
    `unsupported repository URL "${raw.replace(/:[^/@]*@/, ":***@")}": use https://, http://, ssh:// or user@host:path`,
  );
}

/** Splits the credentials off a repository URL. */
export function parseGitUrl(raw: string): ParsedUrl {
  const s = raw.trim();
  if (/^(https?|ssh):\/\//i.test(s)) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw unsupported(raw);
    }
    if (!u.hostname || u.hostname.startsWith("-") || u.username?.startsWith("-")) throw unsupported(raw);
    const kind = u.protocol === "ssh:" ? "ssh" : "http";
    const password = u.password ? decodeURIComponent(u.password) : undefined;
    const username = u.username ? decodeURIComponent(u.username) : undefined;
    u.password = "";
    // An ssh user name is part of the address, not a secret; an http one goes into the Authorization header.
    if (kind === "http") u.username = "";
    const port = u.port || (u.protocol === "https:" ? "443" : u.protocol === "http:" ? "80" : "22");
    return { kind, url: u.toString(), hostPort: `${u.hostname}:${port}`, username, password };
  }
  const m = SCP_LIKE.exec(s);
  if (m && !s.includes("://") && SAFE_NAME.test(m[2]) && !m[2].startsWith("-") && !m[1]?.startsWith("-")) {
    return { kind: "ssh", url: s, hostPort: `${m[2]}:22`, username: m[1] };
  }
  throw unsupported(raw);
}

/** Environment every git call gets: no prompts, no user/system config, English messages, nothing inherited that changes git's behaviour. */
export function baseGitEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  // Drop inherited GIT_* (GIT_DIR, GIT_SSH_COMMAND, GIT_TRACE_CURL, GIT_SSL_NO_VERIFY, …) except the machine's CA trust.
  for (const k of Object.keys(process.env))
    if (k.startsWith("GIT_") && k !== "GIT_SSL_CAINFO" && k !== "GIT_SSL_CAPATH" && k !== "GIT_EXEC_PATH") env[k] = undefined;
  return {
    ...env,
    SSH_ASKPASS: undefined,
    SSH_AUTH_SOCK: undefined,
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    // Only transports we handle; no ext::, file:// or fd:: (which would read the server's own disk).
    GIT_ALLOW_PROTOCOL: "http:https:ssh",
    LC_ALL: "C",
    LANGUAGE: undefined,
  };
}

/** Config entries passed through the environment (GIT_CONFIG_COUNT), so values never show in `ps`. */
function configEnv(entries: [string, string][]): Record<string, string> {
  const env: Record<string, string> = { GIT_CONFIG_COUNT: String(entries.length) };
  entries.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return env;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const fromBase64 = (b64: string) => Buffer.from(b64, "base64").toString("utf8");

/** Prepares env and temp files for talking to `repo`. Throws GitError for an unsupported URL. */
export function openRemote(repo: GitRepository, opts: RemoteOptions): Remote {
  const parsed = parseGitUrl(repo.url ?? "");
  let dir: string | undefined;
  const file = (name: string, content: string, mode = 0o600) => {
    dir ??= mkdtempSync(join(opts.tempRoot, `cred-${process.pid}-`));
    const path = join(dir, name);
    writeFileSync(path, content, { mode });
    return path;
  };
  const secrets: string[] = [];
  const config: [string, string][] = [
    ["credential.helper", ""],
    ["protocol.version", "2"],
  ];
  const env: Record<string, string | undefined> = baseGitEnv();
  try {
    if (parsed.kind === "http") {
      const h = repo.httpConfig ?? {};
      const username = h.username ?? parsed.username;
      const password = h.username !== undefined ? h.password : parsed.password;
      let header: string | undefined;
      if (h.token) header = `Authorization: Bearer ${h.token}`;
      else if (username !== undefined) {
        const basic = Buffer.from(`${username}:${password ?? ""}`).toString("base64");
        header = `Authorization: Basic ${basic}`;
        secrets.push(basic);
      }
      if (header) {
        config.push(["http.extraHeader", header]);
        secrets.push(header);
      }
      for (const s of [h.token, password]) if (s) secrets.push(s);
      if (h["ca.crt"]) {
        config.push(["http.sslCAInfo", file("ca.crt", fromBase64(h["ca.crt"]))]);
        // The environment beats config: the machine's CA file must not replace the repository's.
        env.GIT_SSL_CAINFO = env.GIT_SSL_CAPATH = undefined;
      }
      if (h["tls.crt"]) config.push(["http.sslCert", file("tls.crt", fromBase64(h["tls.crt"]))]);
      if (h["tls.key"]) {
        const key = fromBase64(h["tls.key"]);
        config.push(["http.sslKey", file("tls.key", key)]);
        secrets.push(key, h["tls.key"]);
      }
      if (h.skipServerVerification) config.push(["http.sslVerify", "false"]);
    } else {
      const s = repo.sshConfig ?? {};
      const ssh = ["ssh", "-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "UpdateHostKeys=no"];
      ssh.push("-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no");
      ssh.push("-o", `ConnectTimeout=${Math.max(1, Math.ceil(Math.min(opts.timeoutMs, 30_000) / 1000))}`);
      if (s.sshPrivateKey) {
        let key = fromBase64(s.sshPrivateKey);
        if (!key.endsWith("\n")) key += "\n"; // OpenSSH rejects a key file without its final newline
        ssh.push("-i", quote(file("id", key)));
        secrets.push(key, s.sshPrivateKey);
      } else {
        // Never fall back to the service's own ~/.ssh/id_* keys for someone else's repository.
        ssh.push("-o", "IdentityFile=none");
      }
      if (s.privateKeyPassphrase) {
        // BatchMode would refuse to ask for the passphrase; SSH_ASKPASS_REQUIRE=force answers it without a terminal.
        ssh.push("-o", "BatchMode=no", "-o", "NumberOfPasswordPrompts=1");
        env.SSH_ASKPASS = file("askpass", `#!/bin/sh\nprintf '%s\\n' "$FLIGHTCTL_GIT_SSH_PASSPHRASE"\n`, 0o700);
        env.SSH_ASKPASS_REQUIRE = "force";
        env.FLIGHTCTL_GIT_SSH_PASSPHRASE = s.privateKeyPassphrase;
        secrets.push(s.privateKeyPassphrase);
      } else ssh.push("-o", "BatchMode=yes");
      if (s.skipServerVerification) ssh.push("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null");
      else ssh.push("-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${quote(opts.knownHostsFile)}`);
      env.GIT_SSH_COMMAND = ssh.join(" ");
      env.GIT_SSH_VARIANT = "ssh";
    }
  } catch (e) {
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  Object.assign(env, configEnv(config));
  const redact = redactor(secrets);
  const creds = (parsed.kind === "http" ? repo.httpConfig : repo.sshConfig) ?? {};
  return {
    url: parsed.url,
    display: redact(parsed.url),
    hostPort: parsed.hostPort,
    identity: JSON.stringify([parsed.url, parsed.password ?? null, Object.entries(creds).sort()]),
    env,
    redact,
    dispose: () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Removes credential temp dirs left by processes that died mid-call (their names carry the owner's pid). */
export function removeStaleCredentials(tempRoot: string): void {
  for (const name of readdirSync(tempRoot)) {
    const pid = Number(/^cred-(\d+)-/.exec(name)?.[1]);
    if (pid && pid !== process.pid && !pidAlive(pid)) rmSync(join(tempRoot, name), { recursive: true, force: true });
  }
}

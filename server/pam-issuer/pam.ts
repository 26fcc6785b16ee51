// Host users: passwords through PAM (authenticate-pam, an optional native dependency), groups, GECOS and account
// state from the host's databases through `id` and `getent` (execFile, no shell), so NSS sources such as SSSD work.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { promisify } from "node:util";
import { USERNAME, type UserAuthenticator } from "./users.js";

const run = promisify(execFile);

type PamBinding = {
  authenticate(user: string, pass: string, cb: (err?: unknown) => void, opts?: { serviceName?: string; remoteHost?: string }): void;
};

/** The native PAM binding, or undefined when it did not build on this machine. */
export function loadPam(): PamBinding | undefined {
  try {
    return createRequire(import.meta.url)("authenticate-pam") as PamBinding;
  } catch {
    return undefined;
  }
}

/** Whether PAM service `service` has its own file (else libpam uses /etc/pam.d/other). */
export const pamServiceConfigured = (service: string) => existsSync(`/etc/pam.d/${service}`);

async function lookup(args: string[]): Promise<string | undefined> {
  try {
    return (await run(args[0], args.slice(1), { timeout: 5000 })).stdout.trim();
  } catch {
    return undefined; // unknown user (exit 2), no permission, or no such tool
  }
}

/** Group names of a host user (primary group included, as flightctl does); undefined for an unknown user. */
export async function hostGroups(username: string): Promise<string[] | undefined> {
  if (!USERNAME.test(username)) return undefined;
  const out = await lookup(["id", "-Gn", "--", username]);
  return out === undefined ? undefined : out.split(/\s+/).filter(Boolean);
}

/** Full name from GECOS' first field, and an e-mail address if one of its fields is one. */
export async function hostProfile(username: string): Promise<{ name?: string; email?: string }> {
  if (!USERNAME.test(username)) return {};
  const gecos = (await lookup(["getent", "passwd", "--", username]))?.split(":")[4] ?? "";
  const fields = gecos.split(",").map((f) => f.trim());
  return { name: fields[0] || undefined, email: fields.find((f) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(f)) };
}

/**
 * False when the shadow entry says locked ("!" hash) or expired. authenticate-pam runs only pam_authenticate (no
 * account stack), so this is our account check. Without a readable shadow entry (not root, SSSD users) it is true.
 */
export async function hostAccountActive(username: string): Promise<boolean> {
  if (!USERNAME.test(username)) return false;
  const entry = await lookup(["getent", "shadow", "--", username]);
  if (!entry) return true;
  const f = entry.split(":");
  if (f[1]?.startsWith("!")) return false;
  const expireDay = f[7] ? Number(f[7]) : NaN;
  return !(Number.isFinite(expireDay) && expireDay * 86_400_000 <= Date.now());
}

/**
 * PAM for service `service`. The binding runs the PAM conversation on libuv's thread pool, off the event loop; a
 * failing pam_unix sleeps ~2 s there, so at most `maxConcurrent` run at once to keep threads free for fs and crypto.
 */
export function pamAuthenticator(pam: PamBinding, service: string, maxConcurrent = 2): UserAuthenticator {
  let running = 0;
  const waiting: (() => void)[] = [];
  const slot = async () => {
    while (running >= maxConcurrent) await new Promise<void>((r) => waiting.push(r));
    running++;
  };
  const release = () => {
    running--;
    waiting.shift()?.();
  };
  const check = (username: string, password: string) =>
    new Promise<boolean>((resolve) => {
      try {
        pam.authenticate(username, password, (err) => resolve(!err), { serviceName: service, remoteHost: "flightctl-pam-issuer" });
      } catch {
        resolve(false); // the binding throws on bad argument types; never log the arguments
      }
    });
  return {
    async authenticate(username, password) {
      if (!USERNAME.test(username) || typeof password !== "string" || !password || password.length > 1024) return false;
      await slot();
      try {
        return await check(username, password);
      } finally {
        release();
      }
    },
    groups: hostGroups,
    profile: hostProfile,
    active: hostAccountActive,
  };
}

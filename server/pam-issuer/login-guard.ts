// Password checks with a lockout per user name (form and password grant alike). A name that does not exist fails,
// is delayed and is locked out exactly like one that does, so neither the answer nor its timing says which it is.
// Each failure and each lockout is a security event in the log (warn: event, username, ip).
import type { Logger } from "pino";
import type { LoginThrottle } from "../platform/rate-limit.js";
import { failDelay, OAuthError } from "./http.js";
import { USERNAME, type UserAuthenticator } from "./users.js";

export interface LoginGuard {
  users: UserAuthenticator;
  throttle: LoginThrottle;
  log: Logger;
}

/** 429 for a locked-out name; the same for every name. */
const lockedOut = (ms: number) =>
  new OAuthError(429, "temporarily_unavailable", `too many failed logins; try again in ${Math.ceil(ms / 1000)} s`, ms);

/**
 * True when `username`/`password` may log in; false (after the failure delay) when not. Throws a 429 OAuthError
 * (with its retry delay) while the name is locked out: the password is then not even checked, right or wrong.
 */
export async function checkPassword(g: LoginGuard, username: string, password: string, ip: string, via: string): Promise<boolean> {
  const valid = USERNAME.test(username);
  const name = valid ? username : "(invalid)";
  const locked = await g.throttle.attempt(name);
  if (locked) {
    if (locked.started) {
      g.log.warn(
        { event: "login_lockout", username: name, ip, via, seconds: locked.ms / 1000 },
        "user name locked out after failed logins",
      );
    } else {
      g.log.info({ event: "login_locked_out", username: name, ip, via }, "login refused: the user name is locked out");
    }
    throw lockedOut(locked.ms);
  }
  const ok = valid && (await g.users.authenticate(username, password)) && (await g.users.active?.(username)) !== false;
  if (ok) {
    await g.throttle.succeeded(name);
    return true;
  }
  await failDelay();
  g.log.warn({ event: "login_failed", username: name, ip, via }, "failed login");
  return false;
}

// One configured user (the embedded default's admin), in group flightctl-admin, checked before PAM.
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import type { UserAuthenticator } from "./users.js";

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

export function bootstrapAuthenticator(admin: { username: string; password: string }): UserAuthenticator {
  // Only a salted hash is kept; comparing hashes of equal length in constant time leaks nothing about the password.
  const salt = randomBytes(16);
  const hash = scryptAsync(admin.password, salt, 32);
  const known = async (u: string) => (u === admin.username ? ["flightctl-admin"] : undefined);
  return {
    async authenticate(u, p) {
      if (u !== admin.username || typeof p !== "string") return false;
      return timingSafeEqual(await scryptAsync(p, salt, 32), await hash);
    },
    groups: known,
    async profile() {
      return { name: admin.username };
    },
  };
}

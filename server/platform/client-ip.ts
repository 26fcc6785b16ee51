// The client's IP address for per-IP limits. Forwarded-for headers (RFC 7239 Forwarded, else X-Forwarded-For) are
// believed only when the connection comes from a configured trusted proxy; then the chain is read from the right and
// the first address that is not a trusted proxy is the client (entries left of it could be forged by the client).
import { createContextKey } from "@connectrpc/connect";
import { BlockList, isIP } from "node:net";

/** The TCP peer's address of an RPC (set per request by the endpoint; undefined in-process). */
export const remoteAddressKey = createContextKey<string | undefined>(undefined, { description: "TCP peer address" });
/** The client's address as clientIp() found it (set by clientIpInterceptor; undefined in-process). */
export const clientIpKey = createContextKey<string | undefined>(undefined, { description: "client IP" });

export interface TrustedProxies {
  has(ip: string): boolean;
  readonly size: number;
}

/** Strips IPv4-mapped IPv6 (::ffff:1.2.3.4) so one client has one key. */
const plain = (ip: string) => (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip) ? ip.slice(7) : ip);

/** Trusted proxies from CIDRs or addresses ("10.0.0.0/8", "::1"); throws naming a bad entry. */
export function trustedProxies(cidrs: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits, extra] = c.split("/");
    const family = isIP(addr);
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
    if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
      throw new Error(`"${c}" is not an IP address or CIDR`);
    }
    list.addSubnet(addr, prefix, family === 6 ? "ipv6" : "ipv4");
  }
  return {
    size: cidrs.length,
    has(ip) {
      const family = isIP(ip);
      return family !== 0 && list.check(ip, family === 6 ? "ipv6" : "ipv4");
    },
  };
}

/** The address part of a Forwarded `for=` value or an X-Forwarded-For entry: quotes, brackets and port removed. */
function hopAddress(v: string): string {
  let s = v.trim().replace(/^"(.*)"$/, "$1");
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracketed) s = bracketed[1];
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(":"));
  return plain(s).slice(0, 64);
}

/** The hops a proxy chain reports, nearest to the client first. */
function forwardedChain(forwarded: string | null | undefined, xff: string | null | undefined): string[] {
  if (forwarded) {
    const hops: string[] = [];
    for (const element of forwarded.split(",")) {
      const pair = element.split(";").find((p) => /^\s*for=/i.test(p));
      hops.push(pair ? hopAddress(pair.slice(pair.indexOf("=") + 1)) : "unknown");
    }
    return hops;
  }
  return xff ? xff.split(",").map(hopAddress) : [];
}

/** The client's address: the peer itself unless it is a trusted proxy (see the module comment). */
export function clientIp(
  remote: string | undefined,
  header: (name: string) => string | null | undefined,
  trusted: TrustedProxies,
): string | undefined {
  if (remote === undefined) return undefined;
  let ip = plain(remote);
  if (trusted.size === 0 || !trusted.has(ip)) return ip;
  const chain = forwardedChain(header("forwarded"), header("x-forwarded-for"));
  for (let i = chain.length - 1; i >= 0; i--) {
    ip = chain[i];
    if (!trusted.has(ip)) return ip;
  }
  return ip;
}

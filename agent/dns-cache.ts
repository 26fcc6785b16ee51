// Name lookups for the agent's connections, answered from a short cache: a simulator's thousands of agents connect
// to the same host, and each lookup (getaddrinfo) cost about as much CPU as a TLS certificate parse (RESULTS.md,
// "the 10k connection storm"). Only answers are kept, for a few seconds: a moved service is found on the next
// attempt after that, as without the cache.
import dns from "node:dns";
import type { LookupFunction } from "node:net";

const TTL_MS = 5000;
const answers = new Map<string, { at: number; list: dns.LookupAddress[] }>();

export const cachedLookup = ((hostname: string, options: dns.LookupOptions, callback: (...a: unknown[]) => void) => {
  const key = `${hostname}|${options.family ?? 0}|${options.hints ?? 0}`;
  const reply = (list: dns.LookupAddress[]) => (options.all ? callback(null, list) : callback(null, list[0].address, list[0].family));
  const hit = answers.get(key);
  if (hit && Date.now() - hit.at < TTL_MS) {
    process.nextTick(reply, hit.list);
    return;
  }
  dns.lookup(hostname, { family: options.family, hints: options.hints, all: true }, (err, list) => {
    if (err || list.length === 0) {
      callback(err ?? Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }));
      return;
    }
    answers.set(key, { at: Date.now(), list });
    reply(list);
  });
}) as LookupFunction;

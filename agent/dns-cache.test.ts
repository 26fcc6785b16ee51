// The agent's cached lookups answer as dns.lookup does, in both of the forms net.connect asks for.
import assert from "node:assert/strict";
import dns from "node:dns/promises";
import { test } from "node:test";
import { cachedLookup } from "./dns-cache.js";

const ask = (all: boolean) =>
  new Promise<unknown[]>((resolve) => cachedLookup("localhost", { all, family: 0 }, (...a: unknown[]) => resolve(a as unknown[])));

test("a cached answer is the resolver's, as a list or as one address", async () => {
  const expected = await dns.lookup("localhost", { all: true });
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(await ask(true), [null, expected]);
    assert.deepEqual(await ask(false), [null, expected[0].address, expected[0].family]);
  }
  const failed = await new Promise<unknown[]>((resolve) =>
    cachedLookup("no-such-host.invalid", { family: 0 }, (...a: unknown[]) => resolve(a as unknown[])),
  );
  assert.equal((failed[0] as NodeJS.ErrnoException).code, "ENOTFOUND");
});

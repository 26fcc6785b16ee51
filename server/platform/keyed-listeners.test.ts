import assert from "node:assert/strict";
import { test } from "node:test";
import { keyedListeners } from "./keyed-listeners.js";

test("keyed listeners: each listener of a key is called, one or many; removing them leaves no key behind", () => {
  const calls: string[] = [];
  const reg = keyedListeners<(v: number) => void>();
  const a = (v: number) => calls.push(`a${v}`);
  const b = (v: number) => calls.push(`b${v}`);
  const c = (v: number) => calls.push(`c${v}`);
  const offA = reg.add("k", a);
  reg.each("k", (l) => l(1));
  reg.each("other", (l) => l(9));
  assert.deepEqual(calls, ["a1"]);
  assert.equal(reg.size, 1);
  const offB = reg.add("k", b);
  const offC = reg.add("j", c);
  reg.each("k", (l) => l(2));
  assert.deepEqual(calls, ["a1", "a2", "b2"]);
  assert.equal(reg.has("k", b), true);
  assert.equal(reg.has("j", b), false);
  assert.deepEqual([...reg.keys()].sort(), ["j", "k"]);
  offA();
  offA(); // twice: nothing more
  reg.each("k", (l) => l(3));
  assert.deepEqual(calls.slice(3), ["b3"]);
  assert.equal(reg.has("k", a), false);
  offB();
  offC();
  assert.equal(reg.size, 0);
  // A listener removed leaves the one added after it.
  const offA2 = reg.add("k", a);
  const offB2 = reg.add("k", b);
  offB2();
  reg.each("k", (l) => l(4));
  assert.deepEqual(calls.slice(4), ["a4"]);
  offA2();
  assert.equal(reg.size, 0);
});

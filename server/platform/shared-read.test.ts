import assert from "node:assert/strict";
import { test } from "node:test";
import { sharedReads } from "./shared-read.js";

/** A read whose runs are numbered and end when the test says. */
function controlledRead() {
  const ends: ((fail?: boolean) => void)[] = [];
  let runs = 0;
  const fn = () => {
    const n = ++runs;
    return new Promise<number>((resolve, reject) => ends.push((fail) => (fail ? reject(new Error(`run ${n} failed`)) : resolve(n))));
  };
  return { fn, ends, runs: () => runs };
}

const tick = () => new Promise((r) => setImmediate(r));

test("callers arriving during a run share the next run, which starts only when that one ends; none gets an older run", async () => {
  const read = sharedReads<number>();
  const r = controlledRead();
  const a = read("k", r.fn);
  const b = read("k", r.fn);
  const c = read("k", r.fn);
  await tick();
  assert.equal(r.runs(), 1, "one run at a time per key");
  r.ends[0]();
  assert.equal(await a, 1);
  await tick();
  assert.equal(r.runs(), 2, "the callers that arrived meanwhile get one new run, started after they asked");
  const d = read("k", r.fn); // arrives while run 2 runs: waits for run 3
  r.ends[1]();
  assert.deepEqual(await Promise.all([b, c]), [2, 2]);
  await tick();
  r.ends[2]();
  assert.equal(await d, 3);
  // Nothing is kept: a later call runs again.
  const e = read("k", r.fn);
  await tick();
  r.ends[3]();
  assert.equal(await e, 4);
});

test("a failed run fails its callers only; keys are independent", async () => {
  const read = sharedReads<number>();
  const r = controlledRead();
  const a = read("k", r.fn);
  const b = read("k", r.fn);
  const other = read("other", r.fn);
  await tick();
  assert.equal(r.runs(), 2, "another key runs at once");
  r.ends[0](true);
  await assert.rejects(a, /run 1 failed/);
  await tick();
  r.ends[2]();
  assert.equal(await b, 3, "the waiting callers get their own run after a failure");
  r.ends[1]();
  assert.equal(await other, 2);
});

// The console's push/pull queue: items in order, producers held at the high-water mark until the consumer catches
// up, batches take everything queued at once, and an error given to end() reaches the consumer after the items.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createAsyncQueue } from "./async-queue.js";

test("batches take everything queued so far; producers wait at the high-water mark", async () => {
  const q = createAsyncQueue<number>(3);
  const pushed: number[] = [];
  const producer = (async () => {
    for (let i = 1; i <= 7; i++) {
      await q.push(i);
      pushed.push(i);
    }
    q.end();
  })();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(pushed, [1, 2], "the third push waits: the queue is at its mark");
  const batches: number[][] = [];
  for await (const b of q.batches()) {
    batches.push(b);
    await new Promise((r) => setImmediate(r));
  }
  await producer;
  assert.deepEqual(batches.flat(), [1, 2, 3, 4, 5, 6, 7], "every item once, in order");
  assert.deepEqual(batches[0], [1, 2, 3], "the first batch is all that was queued");
  assert.ok(batches.length < 7, "items that queued up meanwhile came together");
});

test("one at a time, and an error after the items", async () => {
  const q = createAsyncQueue<string>();
  await q.push("a");
  await q.push("b");
  q.end(new Error("relay failed"));
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const x of q) seen.push(x);
  }, /relay failed/);
  assert.deepEqual(seen, ["a", "b"]);
});

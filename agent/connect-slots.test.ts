// The simulator's shared limit on connection attempts: never more in progress than the limit, queued ones start in
// order as slots free up, and a slot released twice frees one slot, not two.
import assert from "node:assert/strict";
import { test } from "node:test";
import { connectSlots } from "./connect-slots.js";

test("at most `limit` attempts hold a slot; the others wait their turn in order", async () => {
  const slots = connectSlots(2);
  let busy = 0;
  let most = 0;
  const order: number[] = [];
  const attempt = async (i: number) => {
    const release = await slots.acquire();
    busy++;
    most = Math.max(most, busy);
    order.push(i);
    await new Promise((r) => setTimeout(r, 5));
    busy--;
    release();
    release(); // a second release (an attempt's finally after its error path) frees nothing more
  };
  await Promise.all([0, 1, 2, 3, 4, 5, 6].map(attempt));
  assert.equal(most, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6]);
  // All slots are free again.
  const a = await slots.acquire();
  const b = await slots.acquire();
  let third = false;
  const c = slots.acquire().then((r) => ((third = true), r));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(third, false, "a third waits while two are held");
  a();
  (await c)();
  b();
});

// The wheel runs every stream's heartbeat; one failing stream must not silence the others in its bucket.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createHeartbeatWheel } from "./heartbeat-wheel.js";

test("a heartbeat that throws is reported and the rest of its bucket still beats, at every turn", async () => {
  const errors: unknown[] = [];
  // One slot: every stream shares the bucket, as a thrown beat would otherwise stop the loop over it.
  const wheel = createHeartbeatWheel(20, 1, (err) => errors.push(err));
  const beats = [0, 0, 0];
  const leaves = [
    wheel.join(() => beats[0]++),
    wheel.join(() => {
      beats[1]++;
      throw new Error("stream reset");
    }),
    wheel.join(() => beats[2]++),
  ];
  try {
    while (beats[2] < 3) await new Promise((r) => setTimeout(r, 20));
    assert.ok(beats[0] >= 3 && beats[1] >= 3, `every stream beat: ${beats}`);
    assert.ok(errors.length >= 3 && errors.every((e) => (e as Error).message === "stream reset"));
  } finally {
    for (const leave of leaves) leave();
    wheel.close();
  }
});

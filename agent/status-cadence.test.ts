import assert from "node:assert/strict";
import { test } from "node:test";
import { FULL_MAX_MS, QUIET_MS, statusCadence } from "./status-cadence.js";

test("an unchanged status is due only when the stream went quiet, after a long gap, or past the floor", () => {
  let t = 0;
  const c = statusCadence(() => t);
  assert.equal(c.due(), true, "no stream heard yet: sent as before (no heartbeat marks the device)");
  const beat = (ms: number) => {
    t += ms;
    c.heard();
  };
  beat(1000);
  for (let i = 0; i < 20; i++) {
    beat(30_000);
    beat(30_000);
    assert.equal(c.due(), false, `tick ${i}: heartbeats keep the device seen`);
  }
  beat(QUIET_MS + 1);
  beat(30_000);
  assert.equal(c.due(), true, "a gap longer than QUIET_MS since the last tick (a stall) forces one");
  beat(30_000);
  assert.equal(c.due(), false, "once");
  t += QUIET_MS + 1;
  assert.equal(c.due(), true, "a stream silent now forces one");
  c.heard();
  for (let i = 0; t < FULL_MAX_MS * 3; i++) {
    beat(60_000);
    if (c.due()) {
      assert.ok(i + 1 >= FULL_MAX_MS / 60_000 - 1, `floor reached after ${i + 1} ticks`);
      return;
    }
  }
  assert.fail("no full report within the floor");
});

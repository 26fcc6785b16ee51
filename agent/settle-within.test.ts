import { test } from "node:test";
import assert from "node:assert/strict";
import { lateAfter } from "./settle-within.js";

test("lateAfter names what is still pending when the time is up", async () => {
  const never = new Promise<void>(() => {});
  const started = Date.now();
  const late = await lateAfter([Promise.resolve(), never, Promise.reject(new Error("failed counts as settled"))], 50);
  assert.deepEqual(late, [1]);
  assert.ok(Date.now() - started >= 45, "it waited for the grace period");
});

test("lateAfter returns as soon as everything settled", async () => {
  const started = Date.now();
  const late = await lateAfter([new Promise((res) => setTimeout(res, 10)), Promise.resolve()], 10_000);
  assert.deepEqual(late, []);
  assert.ok(Date.now() - started < 5_000, "it did not wait for the grace period");
});

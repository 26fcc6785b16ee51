// Admission control: calls beyond `concurrency` wait their turn in order, calls beyond the queue are refused at once
// with ResourceExhausted, and streams are never gated.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/third_party/google/rpc/error_details_pb.js";
import { admissionInterceptor } from "./admission.js";

test("two run, one waits, the fourth is refused; the waiter runs when a slot frees; streams pass", async () => {
  const gate = admissionInterceptor(2, 1);
  const started: number[] = [];
  const finish: (() => void)[] = [];
  const call = (n: number, stream = false) =>
    gate(async () => {
      started.push(n);
      await new Promise<void>((r) => finish.push(r));
      return {} as UnaryResponse;
    })({ stream } as UnaryRequest);
  const calls = [call(1), call(2), call(3)];
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [1, 2], "the third waits");
  const refused = await call(4).then(
    () => assert.fail("the fourth call ran"),
    (e: unknown) => ConnectError.from(e),
  );
  assert.equal(refused.code, Code.ResourceExhausted);
  // It says when to try again (google.rpc.RetryInfo), as the rate limits do.
  assert.equal(refused.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds, 1n);
  const streamCall = call(5, true);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [1, 2, 5], "a stream is not gated");
  finish[0]();
  await calls[0];
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [1, 2, 5, 3], "the waiter took the freed slot");
  for (const f of finish.slice(1)) f();
  await Promise.all([...calls, streamCall]);
});

// graphile-worker's log lines through the bridge: its errors are written under `err` (so without statements or
// values), and the message stops where it starts quoting the error.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import pino from "pino";
import { DrizzleQueryError } from "drizzle-orm";
import { loggerOptions } from "../../lib/logger.js";
import { bridge } from "./runner.js";

test("a failed task's query is logged without its statement or parameters", () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const logger = bridge(pino(loggerOptions("test"), sink));
  const cause = Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01", severity: "FATAL" });
  const error = new DrizzleQueryError("update devices set secret = $1", ["s3cr3t-token"], cause);
  logger.error(`Failed task 3 (render, 2ms, attempt 1 of 10) with error '${error.message}':\n  ${error.stack}`, { failure: true, error });
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0], /s3cr3t-token|update devices/);
  const line = JSON.parse(lines[0]);
  assert.match(line.msg, /^Failed task 3 \(render, 2ms, attempt 1 of 10\) with error '/);
  assert.equal(line.err.sqlState, "57P01");
  assert.equal(line.failure, true);
});

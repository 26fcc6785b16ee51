// The log's view of an error: SQLSTATE and names, never the statement, its parameters or the row's values.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import pino from "pino";
import { DrizzleQueryError } from "drizzle-orm";
import { serializeError } from "./log-errors.js";
import { loggerOptions } from "./logger.js";

const pgError = () =>
  Object.assign(new Error('duplicate key value violates unique constraint "devices_pkey"'), {
    code: "23505",
    severity: "ERROR",
    constraint: "devices_pkey",
    table: "devices",
    detail: "Key (org_id, name)=(o, token-abc123) already exists.",
    where: 'SQL statement "insert into ..."',
  });

test("a failed drizzle query logs its SQLSTATE and constraint, not its statement or parameters", () => {
  const err = new DrizzleQueryError("insert into devices (name, secret) values ($1, $2)", ["dev", "hunter2-password"], pgError());
  const text = JSON.stringify(serializeError(err));
  assert.doesNotMatch(text, /insert into|hunter2|token-abc123|values \(/);
  const out = serializeError(err) as Record<string, unknown>;
  assert.equal(out.sqlState, "23505");
  assert.equal((out.cause as Record<string, unknown>).constraint, "devices_pkey");
  assert.match(String(out.stack), /^\s+at /, "frames are kept (they name the store method)");
});

test("every logger uses it for err", () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  // createLogger's options, on a sink instead of stdout.
  const log = pino(loggerOptions("test"), sink);
  log.error({ err: new DrizzleQueryError("select * from users where password = $1", ["p4ss"], pgError()) }, "internal error");
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0], /p4ss|password =/);
  assert.match(lines[0], /"sqlState":"23505"/);
});

test("other errors keep their fields", () => {
  const e = Object.assign(new Error("plain"), { code: "ENOENT", path: "/x" });
  const out = serializeError(e) as Record<string, unknown>;
  assert.equal(out.message, "plain");
  assert.equal(out.code, "ENOENT");
  assert.equal(out.path, "/x");
});

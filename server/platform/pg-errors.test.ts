// The classification of database errors: connection-class → unavailable, bad-input SQLSTATEs → invalid, the rest
// unclassified (internal); drizzle's wrapper is looked through. And which statements count as read-only.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code } from "@connectrpc/connect";
import { DrizzleQueryError } from "drizzle-orm";
import { classifyPgError, isConnectFailure, isConnectionError, isReadOnlyStatement, sqlState } from "./pg-errors.js";
import { toConnectError } from "./errors.js";

/** An error as pg builds one from the server's ErrorResponse. */
const serverError = (code: string, message = "boom") => Object.assign(new Error(message), { code, severity: "ERROR" });
const wrapped = (cause: unknown) => new DrizzleQueryError("select * from devices where name = $1", ["secret-value"], cause as Error);

test("connection-class errors are unavailable, wrapped or not", () => {
  const cases: unknown[] = [
    serverError("57P01", "terminating connection due to administrator command"),
    serverError("57P02"),
    serverError("57P03", "the database system is starting up"),
    serverError("08006"),
    serverError("08003"),
    Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5"), { code: "ECONNREFUSED" }),
    Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
    Object.assign(new Error("x"), { code: "ETIMEDOUT" }),
    new Error("Connection terminated unexpectedly"),
    new Error("Connection terminated"),
    new Error("timeout exceeded when trying to connect"),
    new Error("Client has encountered a connection error and is not queryable"),
    new AggregateError([Object.assign(new Error("refused"), { code: "ECONNREFUSED" })], ""),
  ];
  for (const err of cases) {
    for (const e of [err, wrapped(err)]) {
      assert.equal(classifyPgError(e)?.class, "unavailable", String(e));
      assert.equal(toConnectError(e).code, Code.Unavailable, String(e));
    }
  }
});

test("SQLSTATEs only bad input can cause are invalid arguments, without quoting the value", () => {
  for (const code of ["22021", "22P05", "54000", "22001"]) {
    const e = wrapped(serverError(code, 'invalid byte sequence for encoding "UTF8": 0x00'));
    assert.equal(sqlState(e), code);
    const ce = toConnectError(e);
    assert.equal(ce.code, Code.InvalidArgument, code);
    assert.doesNotMatch(ce.message, /secret-value|select|0x00/);
  }
});

test("anything else stays internal, and is logged", () => {
  let logged: unknown;
  for (const e of [serverError("23505"), serverError("42P01"), new Error("bug"), wrapped(serverError("42703"))]) {
    assert.equal(classifyPgError(e), undefined);
    assert.equal(isConnectionError(e), false);
    logged = undefined;
    assert.equal(toConnectError(e, (err) => (logged = err)).code, Code.Internal);
    assert.equal(logged, e);
  }
});

test("read-only statements: plain SELECTs without side-effecting functions", () => {
  assert.equal(isReadOnlyStatement("select * from devices where org_id = $1"), true);
  assert.equal(isReadOnlyStatement("  /* c */ -- x\n SELECT 1"), true);
  assert.equal(isReadOnlyStatement("select updated_at, deleted from t for update"), true);
  assert.equal(isReadOnlyStatement("insert into t values (1)"), false);
  assert.equal(isReadOnlyStatement("update t set a = 1"), false);
  assert.equal(isReadOnlyStatement("with x as (delete from t returning *) select * from x"), false);
  assert.equal(isReadOnlyStatement("select nextval('s')"), false);
  assert.equal(isReadOnlyStatement("select pg_notify('c', 'p')"), false);
  assert.equal(isReadOnlyStatement("select (graphile_worker.add_job('t', '{}'::json)).id"), false);
  assert.equal(isReadOnlyStatement("select pg_advisory_lock(1)"), false);
});

test("connect failures (nothing to retry at once) are told apart from connections lost in use", () => {
  assert.equal(isConnectFailure(wrapped(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }))), true);
  assert.equal(isConnectFailure(new Error("timeout exceeded when trying to connect")), true);
  assert.equal(isConnectFailure(wrapped(serverError("57P01"))), false);
  assert.equal(isConnectFailure(new Error("Connection terminated unexpectedly")), false);
});

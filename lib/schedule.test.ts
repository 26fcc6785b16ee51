// Cron evaluation in a time zone and the windows built on it: day-of-month/day-of-week rules, steps, daylight-saving
// changes, schedules that never fire, window edges and the grace limit the service enforces.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { nextFire, parseCron, type Cron } from "./cron.js";
import { goDurationMs, parseSchedule, scheduleProblems, windowAt, type Schedule } from "./schedule.js";

const cron = (expr: string) => {
  const c = parseCron(expr);
  assert.ok(typeof c !== "string", String(c));
  return c as Cron;
};
const next = (expr: string, afterIso: string, tz = "UTC") => {
  const t = nextFire(cron(expr), Date.parse(afterIso), tz);
  return t === undefined ? undefined : new Date(t).toISOString();
};
const schedule = (at: string, startGraceDuration?: string, timeZone = "UTC") =>
  parseSchedule({ at, timeZone, startGraceDuration }) as Schedule;

describe("cron", () => {
  test("refuses malformed expressions, naming the expression", () => {
    for (const bad of [
      "* * *",
      "61 * * * *",
      "* 24 * * *",
      "* * 0 * *",
      "* * * 13 *",
      "* * * * 8",
      "5-1 * * * *",
      "*/0 * * * *",
      "a * * * *",
    ]) {
      assert.match(String(parseCron(bad)), /must be a 5-field cron expression/, bad);
    }
  });

  test("fire times strictly after the given instant, in UTC and in a zone", () => {
    assert.equal(next("0 3 * * *", "2026-01-01T00:00:00Z"), "2026-01-01T03:00:00.000Z");
    assert.equal(next("0 3 * * *", "2026-01-01T03:00:00Z"), "2026-01-02T03:00:00.000Z");
    assert.equal(next("0 3 * * *", "2026-01-01T00:00:00Z", "Europe/Paris"), "2026-01-01T02:00:00.000Z");
    assert.equal(next("0 3 * * *", "2026-07-01T00:00:00Z", "America/New_York"), "2026-07-01T07:00:00.000Z");
    assert.equal(next("5/20 * * * *", "2026-01-01T00:06:00Z"), "2026-01-01T00:25:00.000Z");
    assert.equal(next("0 0-8,16-23 * * *", "2026-01-01T08:30:00Z"), "2026-01-01T16:00:00.000Z");
  });

  test("day of month and day of week: either when both are set, both when one is *", () => {
    // 2026-01-02 is a Friday: "13th or Friday" fires on it.
    assert.equal(next("0 0 13 * 5", "2026-01-01T00:00:00Z"), "2026-01-02T00:00:00.000Z");
    // "every day of January that is a Sunday" (7 is Sunday too).
    assert.equal(next("0 0 * 1 7", "2026-01-01T00:00:00Z"), "2026-01-04T00:00:00.000Z");
  });

  test("daylight saving: a skipped minute fires after the jump, a repeated one once", () => {
    // Paris skips 02:00–03:00 on 2026-03-29: 02:30 becomes 03:30 CEST (01:30 UTC).
    assert.equal(next("30 2 * * *", "2026-03-29T00:00:00Z", "Europe/Paris"), "2026-03-29T01:30:00.000Z");
    // Paris repeats 02:00–03:00 on 2026-10-25: the first 02:30 (CEST, 00:30 UTC), then the next day.
    assert.equal(next("30 2 * * *", "2026-10-24T23:00:00Z", "Europe/Paris"), "2026-10-25T00:30:00.000Z");
    assert.equal(next("30 2 * * *", "2026-10-25T00:30:00Z", "Europe/Paris"), "2026-10-26T01:30:00.000Z");
  });

  test("a date that does not exist never fires; a leap day does", () => {
    assert.equal(next("0 0 30 2 *", "2026-01-01T00:00:00Z"), undefined);
    assert.equal(next("0 0 31 4 *", "2026-01-01T00:00:00Z"), undefined);
    assert.equal(next("0 0 29 2 *", "2026-01-01T00:00:00Z"), "2028-02-29T00:00:00.000Z");
  });
});

describe("windows", () => {
  test("open from a fire time for the grace duration; closed before and after, with the next opening", () => {
    const s = schedule("0 22 * * *", "1h");
    assert.deepEqual(windowAt(s, Date.parse("2026-03-10T21:59:59Z")), { open: false, opensAt: Date.parse("2026-03-10T22:00:00Z") });
    assert.deepEqual(windowAt(s, Date.parse("2026-03-10T22:00:00Z")), { open: true, closesAt: Date.parse("2026-03-10T23:00:00Z") });
    assert.deepEqual(windowAt(s, Date.parse("2026-03-10T22:59:59Z")), { open: true, closesAt: Date.parse("2026-03-10T23:00:00Z") });
    assert.deepEqual(windowAt(s, Date.parse("2026-03-10T23:00:00Z")), { open: false, opensAt: Date.parse("2026-03-11T22:00:00Z") });
  });

  test("no grace: the fire minute itself", () => {
    const s = schedule("0 22 * * *");
    assert.equal(windowAt(s, Date.parse("2026-03-10T22:00:30Z")).open, true);
    assert.equal(windowAt(s, Date.parse("2026-03-10T22:01:00Z")).open, false);
  });

  test("evaluated in the schedule's zone", () => {
    const s = schedule("0 3 * * *", "10m", "Asia/Tokyo");
    assert.equal(windowAt(s, Date.parse("2026-03-10T18:05:00Z")).open, true);
    assert.equal(windowAt(s, Date.parse("2026-03-10T03:05:00Z")).open, false);
  });

  test("problems the service refuses: never fires; a grace longer than the time between fires", () => {
    assert.match(scheduleProblems(schedule("0 3 30 2 *", "1h"), Date.now()).at ?? "", /never fires/);
    assert.match(scheduleProblems(schedule("*/10 * * * *", "11m"), Date.now()).startGraceDuration ?? "", /10 minutes/);
    assert.deepEqual(scheduleProblems(schedule("*/10 * * * *", "10m"), Date.now()), {});
  });

  test("Go durations", () => {
    assert.equal(goDurationMs("1h30m"), 5_400_000);
    assert.equal(goDurationMs("90s"), 90_000);
    assert.equal(goDurationMs("1.5h"), 5_400_000);
    assert.equal(goDurationMs("0"), 0);
    assert.equal(goDurationMs("10"), undefined);
    assert.deepEqual(Object.keys(parseSchedule({ at: "* * * * *", startGraceDuration: "soon", timeZone: "Mars/Base" })).sort(), [
      "startGraceDuration",
      "timeZone",
    ]);
  });
});

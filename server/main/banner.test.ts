// The start banner does not offer PAM logins that cannot work.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pamLoginLines } from "./banner.js";

test("with PAM: local users are offered; without: why not, and how to enable it", () => {
  assert.match(pamLoginLines(true, "flightctl"), /or as any local Linux user \(PAM service "flightctl"/);
  const without = pamLoginLines(false, "flightctl");
  assert.doesNotMatch(without, /or as any local Linux user/);
  assert.match(without, /cannot log in/);
  assert.match(without, /apt-get install libpam0g-dev && npm rebuild authenticate-pam/);
});

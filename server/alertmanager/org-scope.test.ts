// The organization rules and the matcher parser on their own: what a caller's filter may name, what is sent to
// Alertmanager, and which silences are scoped to an organization.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DomainError } from "../platform/errors.js";
import { formatMatcher, parseMatcher } from "./matchers.js";
import { ownSilence, requestedOrg, scopedFilter, scopedSilence } from "./org-scope.js";
import type { AmSilence } from "./alertmanager-client.js";

const A = "11111111-1111-4111-8111-111111111111";
const B = "22222222-2222-4222-8222-222222222222";
const kind = (fn: () => unknown) => {
  try {
    fn();
    return "ok";
  } catch (e) {
    return e instanceof DomainError ? e.kind : "other";
  }
};

test("matchers: quoted and unquoted values, the four operators, canonical output; malformed ones named", () => {
  assert.deepEqual(parseMatcher('alertname="Device \\"X\\""', "f"), { name: "alertname", op: "=", value: 'Device "X"' });
  assert.deepEqual(parseMatcher("resource!=d1", "f"), { name: "resource", op: "!=", value: "d1" });
  assert.deepEqual(parseMatcher(' kind =~ "Dev.*" ', "f"), { name: "kind", op: "=~", value: "Dev.*" });
  assert.equal(formatMatcher(parseMatcher('a!~"x|y"', "f")), 'a!~"x|y"');
  for (const bad of ["alertname", '1a="x"', 'a="open', "a=b c", 'a=~"("', 'a="x"y"']) {
    assert.throws(() => parseMatcher(bad, "filter[3]"), /filter\[3\]/, bad);
  }
});

test("filters: only org_id=<one id> may be named; the organization is always forced", () => {
  const m = (s: string) => parseMatcher(s, "f");
  assert.equal(requestedOrg([m('alertname="x"')]), undefined);
  assert.equal(requestedOrg([m(`org_id="${A}"`), m(`org_id="${A}"`)]), A);
  for (const bad of [[m(`org_id!="${A}"`)], [m('org_id=~".*"')], [m(`org_id="${A}"`), m(`org_id="${B}"`)]]) {
    assert.equal(
      kind(() => requestedOrg(bad)),
      "forbidden",
    );
  }
  assert.deepEqual(scopedFilter([m('alertname="x"'), m(`org_id="${A}"`)], A), ['alertname="x"', `org_id="${A}"`]);
  // A value that looks like another matcher stays one quoted value.
  assert.deepEqual(scopedFilter([{ name: "resource", op: "=", value: `d1",org_id="${B}` }], A), [
    `resource="d1\\",org_id=\\"${B}"`,
    `org_id="${A}"`,
  ]);
});

test("silences: scoped by an org_id equality; created ones get it added, any other org_id matcher is refused", () => {
  const base = { startsAt: "2026-01-01T00:00:00Z", endsAt: "2026-01-02T00:00:00Z", createdBy: "u", comment: "" };
  const name = { name: "alertname", value: "X", isRegex: false };
  const scoped = scopedSilence({ ...base, matchers: [name] }, A);
  assert.deepEqual(scoped.matchers, [name, { name: "org_id", value: A, isRegex: false, isEqual: true }]);
  const stored = (matchers: AmSilence["matchers"]): AmSilence => ({ ...base, id: "s", status: { state: "active" }, matchers });
  assert.equal(ownSilence(stored(scoped.matchers), A), true);
  assert.equal(ownSilence(stored(scoped.matchers), B), false);
  assert.equal(ownSilence(stored([name, { name: "org_id", value: A, isRegex: true }]), A), false);
  assert.equal(ownSilence(stored([name, { name: "org_id", value: A, isRegex: false, isEqual: false }]), A), false);
  for (const org of [
    { name: "org_id", value: B, isRegex: false },
    { name: "org_id", value: ".*", isRegex: true },
    { name: "org_id", value: A, isRegex: false, isEqual: false },
  ]) {
    assert.equal(
      kind(() => scopedSilence({ ...base, matchers: [name, org] }, A)),
      "forbidden",
      JSON.stringify(org),
    );
  }
});

// Organization isolation over Alertmanager: every alert carries org_id (docs/alerts.md), so a caller's view is the
// alerts whose org_id is its organization's id, and a silence belongs to an organization exactly when one of its
// matchers is the equality org_id="<that id>" (all of a silence's matchers must hold, so such a silence can never
// match another organization's alert). Rules only; the proxy and AlertService apply them.
import { forbidden } from "../platform/errors.js";
import type { AmAlert, AmPostableSilence, AmSilence, AmSilenceMatcher } from "./alertmanager-client.js";
import { formatMatcher, type Matcher } from "./matchers.js";

/** The label every alert carries its organization's id in. */
export const ORG_LABEL = "org_id";

const notOwn = () => forbidden(`${ORG_LABEL} may only be matched with equality to your organization's id (${ORG_LABEL}="<uuid>")`);

/**
 * The organization a caller's filters name (its org_id="…" matcher), or undefined. Any other org_id matcher
 * (inequality, regex, two different ids) could reach another organization's alerts: refused.
 */
export function requestedOrg(filters: readonly Matcher[]): string | undefined {
  const own = filters.filter((m) => m.name === ORG_LABEL);
  if (own.some((m) => m.op !== "=")) throw notOwn();
  const ids = new Set(own.map((m) => m.value));
  if (ids.size > 1) throw notOwn();
  return [...ids][0];
}

/** The filters sent to Alertmanager: the caller's, with org_id forced to its organization. */
export function scopedFilter(filters: readonly Matcher[], orgId: string): string[] {
  return [...filters.filter((m) => m.name !== ORG_LABEL), { name: ORG_LABEL, op: "=" as const, value: orgId }].map(formatMatcher);
}

/** Whether the alert is the organization's (a backstop behind the forced filter). */
export const ownAlert = (a: AmAlert, orgId: string) => a.labels[ORG_LABEL] === orgId;

const isOrgEquality = (m: AmSilenceMatcher, orgId: string) =>
  m.name === ORG_LABEL && !m.isRegex && m.isEqual !== false && m.value === orgId;

/** Whether the silence belongs to the organization (it has the matcher org_id="<orgId>"). */
export const ownSilence = (s: AmSilence, orgId: string) => s.matchers.some((m) => isOrgEquality(m, orgId));

/** The organization a silence to create names (its org_id="…" matcher), or undefined. */
export function silenceOrg(s: AmPostableSilence): string | undefined {
  return s.matchers.find((m) => m.name === ORG_LABEL && !m.isRegex && m.isEqual !== false)?.value;
}

/**
 * The silence as it may be created for the organization: a silence without an org_id matcher gets org_id="<orgId>"
 * added (it then silences only the organization's alerts); one with any other org_id matcher is refused.
 */
export function scopedSilence(s: AmPostableSilence, orgId: string): AmPostableSilence {
  const orgMatchers = s.matchers.filter((m) => m.name === ORG_LABEL);
  if (orgMatchers.some((m) => !isOrgEquality(m, orgId))) throw notOwn();
  if (orgMatchers.length > 0) return s;
  return { ...s, matchers: [...s.matchers, { name: ORG_LABEL, value: orgId, isRegex: false, isEqual: true }] };
}

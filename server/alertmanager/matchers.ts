// Alertmanager's label matchers (`name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"`), as its API v2
// takes them in `filter` query parameters. Parsed here so that a malformed one is refused with a message naming it
// (before Alertmanager sees it), and written back in one canonical quoted form.
import { invalid } from "../platform/errors.js";
import { quote } from "../../lib/quote.js";

export type MatchOp = "=" | "!=" | "=~" | "!~";

/** One label matcher. */
export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SHAPE = /^\s*([^=!~\s]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$/s;

/** Parses one matcher; `field` names where it came from in the error (e.g. "filter[2]"). */
export function parseMatcher(text: string, field: string): Matcher {
  const m = SHAPE.exec(text);
  if (!m) throw invalid({ field, message: `must be a label matcher such as alertname="DeviceDisconnected", got ${quote(text)}` });
  const [, name, op, raw] = m;
  if (!LABEL_NAME.test(name)) throw invalid({ field, message: `label name ${quote(name)} must match [a-zA-Z_][a-zA-Z0-9_]*` });
  let value = raw;
  if (raw.startsWith('"')) {
    try {
      value = JSON.parse(raw) as string;
    } catch {
      throw invalid({ field, message: `the quoted value ${quote(raw)} is not closed or has a bad escape` });
    }
    if (typeof value !== "string") throw invalid({ field, message: `the value ${quote(raw)} is not one quoted string` });
  } else if (/["\s,{}]/.test(raw)) {
    throw invalid({ field, message: `an unquoted value must not contain quotes, spaces, commas or braces: ${quote(raw)}` });
  }
  if (op === "=~" || op === "!~") checkRegex(value, field);
  return { name, op: op as MatchOp, value };
}

/** Alertmanager anchors regular expressions (RE2); the JS check catches the malformed ones. */
function checkRegex(re: string, field: string): void {
  try {
    new RegExp(`^(?:${re})$`);
  } catch (e) {
    throw invalid({ field, message: `bad regular expression ${quote(re)}: ${(e as Error).message}` });
  }
}

/** The matcher in Alertmanager's quoted form. */
export function formatMatcher(m: Matcher): string {
  return `${m.name}${m.op}${JSON.stringify(m.value)}`;
}

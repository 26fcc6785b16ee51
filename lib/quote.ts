// User input inside error messages: quoted, and cut to a short prefix so a 3 MB selector or name is never echoed back
// (into the response, the log, the metrics). The one helper every parser and error builder uses for that.

/** Characters of user input an error message quotes at most. */
export const QUOTE_MAX = 64;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * `text` in quotes (`mark`, default double) for an error message; longer than `max` characters, its first `max`
 * followed by how long it was. Lone surrogates (from a cut pair or the input) become U+FFFD, so the message always
 * encodes (gRPC headers).
 */
export function quote(value: unknown, max = QUOTE_MAX, mark = '"'): string {
  const text = typeof value === "string" ? value : String(value);
  const shown = `${mark}${wellFormed(text.length <= max ? text : text.slice(0, max))}${mark}`;
  return text.length <= max ? shown : `${shown}… (${text.length} characters)`;
}

/** `text` cut to at most `max` characters (marked with "…"), never leaving half a surrogate pair. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? wellFormed(text) : `${wellFormed(text.slice(0, max))}…`;
}

const wellFormed = (s: string) => s.replace(LONE_SURROGATE, "\ufffd");

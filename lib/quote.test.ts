import assert from "node:assert/strict";
import { test } from "node:test";
import { quote, truncate } from "./quote.js";

test("quote: short input is quoted as is, long input is cut with its length", () => {
  assert.equal(quote("abc"), '"abc"');
  const long = "x".repeat(3_000_000);
  const q = quote(long);
  assert.ok(q.length < 100, q);
  assert.equal(q, `"${"x".repeat(64)}"… (3000000 characters)`);
});

test("quote: a surrogate pair cut in two, or a lone one, becomes U+FFFD", () => {
  assert.equal(quote(`${"a".repeat(63)}😀`), `"${"a".repeat(63)}\ufffd"… (65 characters)`);
  assert.equal(quote("a\ud800b"), '"a\ufffdb"');
  assert.equal(quote("😀"), '"😀"');
});

test("truncate: cut with a mark, never half a surrogate pair", () => {
  assert.equal(truncate("abc", 5), "abc");
  assert.equal(truncate("abcdef", 3), "abc…");
  assert.equal(truncate("ab😀", 3), "ab\ufffd…");
});

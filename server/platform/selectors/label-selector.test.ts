// Label selector parsing: every operator, the Kubernetes quirks flightctl inherits, and every error.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DomainError } from "../errors.js";
import { labelSelectorFromMessage, parseLabelSelector, type LabelRequirement } from "./label-selector.js";

/** Asserts fn throws an InvalidArgument whose message starts with `field: ` and mentions every fragment. */
function refused(fn: () => unknown, field: string, ...fragments: string[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DomainError && e.kind === "invalid", `expected an invalid DomainError, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${field}: `), e.message);
    assert.deepEqual(
      e.violations.map((v) => v.field),
      [field],
    );
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention "${f}"`);
    return true;
  });
}

const req = (key: string, op: LabelRequirement["op"], ...values: string[]): LabelRequirement => ({ key, op, values });

describe("parseLabelSelector", () => {
  test("every operator; comma is AND; whitespace anywhere between tokens", () => {
    assert.deepEqual(parseLabelSelector("a=1, b==2,c!=3, d in (x, y),e notin (z),f,!g"), [
      req("a", "=", "1"),
      req("b", "=", "2"),
      req("c", "!=", "3"),
      req("d", "in", "x", "y"),
      req("e", "notin", "z"),
      req("f", "exists"),
      req("g", "!"),
    ]);
    assert.deepEqual(parseLabelSelector("  a = 1 ,\tb  in(x,y)  ,  ! c , d\n"), [
      req("a", "=", "1"),
      req("b", "in", "x", "y"),
      req("c", "!"),
      req("d", "exists"),
    ]);
    assert.deepEqual(parseLabelSelector("a notin(b)"), [req("a", "notin", "b")]);
  });

  test("empty selectors select everything", () => {
    assert.deepEqual(parseLabelSelector(""), []);
    assert.deepEqual(parseLabelSelector("   "), []);
  });

  test("qualified keys, empty values and Kubernetes' quirks", () => {
    assert.deepEqual(parseLabelSelector("example.com/tier="), [req("example.com/tier", "=", "")]);
    assert.deepEqual(parseLabelSelector("a!="), [req("a", "!=", "")]);
    assert.deepEqual(parseLabelSelector("a in ()"), [req("a", "in", "")], "() is the empty value");
    assert.deepEqual(parseLabelSelector("a in (x,,y)"), [req("a", "in", "x", "", "y")]);
    assert.deepEqual(parseLabelSelector("a in (x, x)"), [req("a", "in", "x")], "duplicates collapse");
    assert.deepEqual(parseLabelSelector("a=(x)"), [req("a", "=", "x")]);
    assert.deepEqual(
      parseLabelSelector("in=notin,notin in (in)"),
      [req("in", "=", "notin"), req("notin", "in", "in")],
      "keywords are fine as keys and values",
    );
    assert.deepEqual(parseLabelSelector("My.Key_1=V-2.x_Y"), [req("My.Key_1", "=", "V-2.x_Y")]);
    const long = "k".repeat(63);
    assert.deepEqual(parseLabelSelector(`${"p".repeat(253)}/${long}=${long}`), [req(`${"p".repeat(253)}/${long}`, "=", long)]);
  });

  test("syntax errors say what was found where and what was expected", () => {
    refused(() => parseLabelSelector("a in (b"), "labelSelector", 'cannot parse "a in (b"', "found end of input", "expected ',' or ')'");
    refused(() => parseLabelSelector("a in b"), "labelSelector", "found 'b' at position 6", "expected '('");
    refused(() => parseLabelSelector("a in (b c)"), "labelSelector", "found 'c' at position 9", "expected ',' or ')'");
    refused(() => parseLabelSelector("a=b,,c"), "labelSelector", "found ',' at position 5", "after ','");
    refused(() => parseLabelSelector("a=b,"), "labelSelector", "found end of input", "after ','");
    refused(() => parseLabelSelector(",a"), "labelSelector", "found ',' at position 1");
    refused(() => parseLabelSelector("bad key=1"), "labelSelector", "found 'key' at position 5", "expected an operator");
    refused(() => parseLabelSelector("a=b=c"), "labelSelector", "found '=' at position 4", "expected ',' or end of input");
    refused(() => parseLabelSelector("!a=b"), "labelSelector", "found '=' at position 3");
    refused(() => parseLabelSelector("a=!b"), "labelSelector", "found '!' at position 3", "expected a value");
    refused(() => parseLabelSelector("a=(x,y)"), "labelSelector", 'operator "=" of key "a" takes exactly one value, got 2');
    refused(() => parseLabelSelector("(a,b) in ((1,2))"), "labelSelector", "keysets", "not supported");
    refused(() => parseLabelSelector(")"), "labelSelector", "found ')' at position 1");
  });

  test("operators of field selectors are refused, listing the label ones", () => {
    for (const s of ["a>1", "a>=1", "a<1", "a<=1", "a contains b", "a notcontains b"]) {
      refused(() => parseLabelSelector(s), "labelSelector", "is not supported in label selectors", 'label key "a"', "=, ==, !=, in, notin");
    }
  });

  test("keys and values are validated like Kubernetes label keys and values", () => {
    refused(() => parseLabelSelector("-a=1"), "labelSelector", 'invalid label key "-a" at position 1');
    refused(() => parseLabelSelector("a-=1"), "labelSelector", 'invalid label key "a-"');
    refused(() => parseLabelSelector(`${"k".repeat(64)}`), "labelSelector", "invalid label key", "at most 63");
    refused(() => parseLabelSelector("Example.com/a=1"), "labelSelector", 'invalid label key "Example.com/a"', "prefix");
    refused(() => parseLabelSelector("/a"), "labelSelector", 'invalid label key "/a"', "prefix");
    refused(() => parseLabelSelector("a/=1"), "labelSelector", 'invalid label key "a/"', "name part");
    refused(() => parseLabelSelector("a/b/c=1"), "labelSelector", 'invalid label key "a/b/c"');
    refused(() => parseLabelSelector(`${"p".repeat(254)}/a=1`), "labelSelector", "prefix", "at most 253");
    refused(() => parseLabelSelector(`a=${"x".repeat(64)}`), "labelSelector", "invalid value", 'label key "a"', "at most 63");
    refused(() => parseLabelSelector("a=b/c"), "labelSelector", 'invalid value "b/c"');
    refused(() => parseLabelSelector("a in (ok, -bad)"), "labelSelector", 'invalid value "-bad"');
    refused(() => parseLabelSelector("a=x."), "labelSelector", 'invalid value "x."');
  });
});

describe("labelSelectorFromMessage", () => {
  test("matchLabels and matchExpressions become the same requirements", () => {
    assert.deepEqual(
      labelSelectorFromMessage({
        matchLabels: { a: "1", b: "" },
        matchExpressions: [
          { key: "c", operator: "In", values: ["x", "y", "x"] },
          { key: "d", operator: "NotIn", values: ["z"] },
          { key: "e", operator: "Exists" },
          { key: "f", operator: "DoesNotExist", values: [] },
          { key: "g", operator: "In" },
        ],
      }),
      [
        req("a", "=", "1"),
        req("b", "=", ""),
        req("c", "in", "x", "y"),
        req("d", "notin", "z"),
        req("e", "exists"),
        req("f", "!"),
        req("g", "in", ""),
      ],
    );
    assert.deepEqual(labelSelectorFromMessage({}), []);
  });

  test("bad keys, values and operators name the message field", () => {
    refused(() => labelSelectorFromMessage({ matchLabels: { "-a": "1" } }), "spec.selector.matchLabels", 'invalid label key "-a"');
    refused(() => labelSelectorFromMessage({ matchLabels: { a: "b c" } }), "spec.selector.matchLabels", 'invalid value "b c"');
    refused(
      () => labelSelectorFromMessage({ matchExpressions: [{ key: "a", operator: "Gt", values: ["1"] }] }),
      "spec.selector.matchExpressions[0].operator",
      'unknown operator "Gt"',
      "In, NotIn, Exists, DoesNotExist",
    );
    refused(
      () => labelSelectorFromMessage({ matchExpressions: [{ key: "a", operator: "Exists", values: ["1"] }] }),
      "spec.selector.matchExpressions[0].values",
      "must be empty",
    );
    refused(
      () => labelSelectorFromMessage({ matchExpressions: [{ key: "", operator: "Exists" }] }),
      "spec.selector.matchExpressions[0]",
      "invalid label key",
    );
    refused(
      () => labelSelectorFromMessage({ matchExpressions: [{ key: "a", operator: "In", values: ["ok", "n/o"] }] }, "selector"),
      "selector.matchExpressions[0]",
      'invalid value "n/o"',
    );
  });
});

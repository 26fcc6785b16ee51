// Fleet template parameters: Go text/template semantics for the supported subset (functions, pipelines, if/with,
// trim markers, missingkey=zero), every rejection with its message, and renderFields/validateFields over device specs.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DEVICE_TEMPLATE_FIELDS,
  TemplateError,
  hasPlaceholders,
  parseTemplate,
  renderFields,
  validateFields,
  type TemplateDevice,
} from "./template-params.js";

const dev: TemplateDevice = { name: "dev-1", labels: { site: "Paris", "a-b": "dash", empty: "", region: "eu-west" } };
const run = (src: string, d: TemplateDevice = dev) => parseTemplate(src).execute(d);
const rejects = (src: string, message: string | RegExp) =>
  assert.throws(
    () => parseTemplate(src),
    (e: unknown) => {
      assert.ok(e instanceof TemplateError, `expected TemplateError for ${src}`);
      if (typeof message === "string") assert.equal(e.message, message);
      else assert.match(e.message, message);
      return true;
    },
  );

test("data access: name, labels, index, missing labels yield empty string", () => {
  assert.equal(run("{{ .metadata.name }}"), "dev-1");
  assert.equal(run("{{.metadata.labels.site}}"), "Paris");
  assert.equal(run('{{ index .metadata.labels "a-b" }}'), "dash");
  assert.equal(run("[{{ .metadata.labels.nope }}]"), "[]");
  assert.equal(run('[{{ index .metadata.labels "nope" }}]'), "[]");
  assert.equal(run("[{{ .metadata.labels.site }}]", { name: "x", labels: {} }), "[]");
  // Own keys only: prototype names are missing labels, not Object.prototype members.
  assert.equal(run('[{{ .metadata.labels.constructor }}{{ index .metadata.labels "__proto__" }}]'), "[]");
  assert.equal(run("{{ $.metadata.name }}"), "dev-1");
});

test("functions: upper lower replace getOrDefault", () => {
  assert.equal(run("{{ upper .metadata.labels.site }}"), "PARIS");
  assert.equal(run("{{ lower .metadata.labels.site }}"), "paris");
  assert.equal(run('{{ replace "-" "_" .metadata.labels.region }}'), "eu_west");
  assert.equal(run('{{ replace "a" "o" "banana" }}'), "bonono");
  assert.equal(run('{{ replace "" "-" "ab" }}'), "-a-b-");
  assert.equal(run('{{ getOrDefault .metadata.labels "site" "x" }}'), "Paris");
  assert.equal(run('{{ getOrDefault .metadata.labels "missing" "dflt" }}'), "dflt");
  assert.equal(run('{{ getOrDefault .metadata.labels "empty" "dflt" }}'), "dflt");
});

test("builtins: comparisons, and/or/not, index, len, print", () => {
  assert.equal(run('{{ eq .metadata.labels.site "Paris" }} {{ eq 1 2 }}'), "true false");
  assert.equal(run('{{ eq .metadata.labels.site "Rome" "Oslo" "Paris" }}'), "true");
  assert.equal(run('{{ eq .metadata.labels.site "Rome" "Oslo" }}'), "false");
  assert.equal(run('{{ ne 1 2 }} {{ ne "a" "a" }}'), "true false");
  assert.equal(run('{{ lt 1 2 }} {{ gt 1 2 }} {{ le 2 2 }} {{ ge "a" "b" }}'), "true false true false");
  assert.equal(run('{{ and 1 0 2 }} {{ and 1 "x" }} {{ or 0 "" "z" }} {{ or 0 "" }}'), "0 x z ");
  assert.equal(run('{{ not "" }} {{ not 1 }} {{ not .metadata.labels }}'), "true false false");
  assert.equal(run("{{ not .metadata.labels }}", { name: "n", labels: {} }), "true");
  assert.equal(run('{{ index "abc" 1 }}'), "98");
  assert.equal(run('{{ len .metadata.labels }} {{ len "héllo" }}'), "4 6"); // Go: byte length
  assert.equal(run('{{ print "a" "b" }}|{{ print 1 2 }}|{{ print "a" 1 true }}'), "ab|1 2|a1 true");
  // and/or short-circuit like Go >= 1.18: the failing comparison is never evaluated.
  assert.equal(run('{{ or "x" (eq 1 "s") }}'), "x");
  assert.throws(() => run('{{ eq 1 "s" }}'), /eq: incompatible types for comparison: int and string/);
  assert.throws(() => run("{{ lt true false }}"), /lt: invalid type for comparison/);
});

test("literals and output formatting", () => {
  assert.equal(run('{{ "a\\tb\\n\\"q\\"\\\\" }}'), 'a\tb\n"q"\\');
  assert.equal(run("{{ `raw \\n {{ }}` }}"), "raw \\n {{ }}");
  assert.equal(run('{{ "\\u00e9\\x41" }}'), "éA");
  assert.equal(run("{{ 42 }} {{ -7 }} {{ 0x10 }} {{ true }} {{ false }}"), "42 -7 16 true false");
});

test("pipelines and parenthesized sub-expressions", () => {
  assert.equal(run("{{ .metadata.labels.site | upper }}"), "PARIS");
  assert.equal(run('{{ .metadata.labels.region | replace "-" "." | upper }}'), "EU.WEST");
  // The piped value is the LAST argument.
  assert.equal(run('{{ "banana" | replace "a" "o" }}'), "bonono");
  assert.equal(run('{{ "x" | getOrDefault .metadata.labels "missing" }}'), "x");
  assert.equal(run('{{ upper (index .metadata.labels "a-b") }}'), "DASH");
  assert.equal(run('{{ lower (replace "P" "Q" (upper .metadata.labels.site)) }}'), "qaris");
  assert.equal(run("{{ if eq (len .metadata.name) 5 }}five{{ end }}"), "five");
});

test("if / else if / else and Go truthiness", () => {
  const t = parseTemplate('{{ if eq .metadata.labels.site "Paris" }}P{{ else if .metadata.labels.region }}R{{ else }}N{{ end }}');
  assert.equal(t.execute(dev), "P");
  assert.equal(t.execute({ name: "x", labels: { region: "r" } }), "R");
  assert.equal(t.execute({ name: "x", labels: {} }), "N");
  assert.equal(run('{{ if "" }}a{{ else }}b{{ end }}{{ if 0 }}a{{ else }}b{{ end }}{{ if false }}a{{ else }}b{{ end }}'), "bbb");
  assert.equal(run("{{ if .metadata.labels.missing }}a{{ else }}b{{ end }}{{ if .metadata.labels }}c{{ end }}"), "bc");
  assert.equal(run("{{ if .metadata.labels }}a{{ else }}empty{{ end }}", { name: "x", labels: {} }), "empty");
  assert.equal(run("{{ if 1 }}{{ if 0 }}a{{ else }}b{{ end }}{{ end }}"), "b");
});

test("with: dot is the value, $ stays the root, else uses the outer dot", () => {
  assert.equal(run("{{ with .metadata.labels.site }}{{ . }}@{{ $.metadata.name }}{{ end }}"), "Paris@dev-1");
  assert.equal(run("{{ with .metadata.labels.nope }}x{{ else }}{{ .metadata.name }}{{ end }}"), "dev-1");
  assert.equal(run("{{ with .metadata }}{{ .name }}/{{ .labels.site }}{{ end }}"), "dev-1/Paris");
  assert.equal(run('{{ with .metadata.labels }}{{ index . "a-b" }}{{ end }}'), "dash");
  assert.equal(run("{{ with .metadata.labels.nope }}a{{ else with .metadata.labels.site }}{{ . }}{{ end }}"), "Paris");
});

test("trim markers and comments", () => {
  assert.equal(run("a  \n {{- .metadata.name -}} \n\t b"), "adev-1b");
  assert.equal(run("a {{- 1 }} {{ 2 -}} b"), "a1 2b");
  assert.equal(run("x {{/* note */}} y"), "x  y");
  assert.equal(run("x \n{{- /* note */ -}}\n y"), "xy");
  assert.equal(run("{{-3}}"), "-3"); // no space after "-": a negative number, not a trim marker
  assert.equal(parseTemplate("only {{/* comment */}}").hasActions, false);
  assert.equal(parseTemplate("{{ .metadata.name }}").hasActions, true);
  assert.equal(parseTemplate("plain").hasActions, false);
  assert.equal(parseTemplate("plain").execute(dev), "plain");
});

test("rejections name what is not allowed", () => {
  rejects("{{ range .metadata.labels }}{{ end }}", "range is not allowed");
  rejects('{{ define "x" }}{{ end }}', "define is not allowed");
  rejects('{{ template "x" }}', "template is not allowed");
  rejects('{{ block "x" . }}{{ end }}', "block is not allowed");
  rejects("{{ $x := .metadata.name }}", "variable declaration $x := is not allowed");
  rejects("{{ $x }}", /variable \$x is not allowed/);
  rejects('{{ foo "a" }}', 'unknown function "foo"');
  rejects('{{ "a" | bar }}', 'unknown function "bar"');
  rejects('{{ upper (baz "a") }}', 'unknown function "baz"');
  rejects("{{ nil }}", "nil is not allowed");
  rejects("{{ .metadata.name", "unterminated action: missing }}");
  rejects("{{ .metadata.name }", 'unexpected character "}" in action');
  rejects("a {{ end }}", "unexpected {{end}} without matching if/with");
  rejects("{{ if 1 }}a{{ end }}{{ end }}", "unexpected {{end}} without matching if/with");
  rejects("{{ else }}", "unexpected {{else}} outside if/with");
  rejects("{{ if 1 }}a", "unexpected EOF: missing {{end}} for {{if}}");
  rejects("{{ with 1 }}{{ else if 2 }}", "unexpected EOF: missing {{end}} for {{if}}");
  rejects("{{ if 1 }}{{ else }}{{ else }}{{ end }}", "unexpected second {{else}} in the same block");
  rejects("{{ if }}{{ end }}", "missing value for if");
  rejects("{{ }}", "missing value for command");
  rejects("{{/* open", "unclosed comment");
  rejects('{{ "open }}', "unterminated quoted string");
  rejects("{{ (upper .metadata.name }}", "unclosed left paren");
  rejects("{{ upper }}", "wrong number of arguments for upper: want 1, got 0");
  rejects('{{ "a" | replace "x" }}', "wrong number of arguments for replace: want 3, got 2");
  rejects("{{ upper 1 }}", "upper: expected string argument, got int");
  rejects('{{ "a" | 1 }}', "non-function 1 in pipeline");
  rejects("{{ 1.5 }}", /bad number syntax: "1.5"/);
  rejects('{{ "\\q" }}', /invalid escape \\q/);
});

test("field access is limited to .metadata.name and .metadata.labels.<key>", () => {
  const only = /is not allowed; only \.metadata\.name and \.metadata\.labels\.<key> are accessible/;
  rejects("{{ .spec }}", /^field "\.spec" is not allowed/);
  rejects("{{ .metadata.owner }}", /^field "\.metadata\.owner" is not allowed/);
  rejects("{{ .metadata.labels.site.more }}", /^field "\.metadata\.labels\.site\.more" is not allowed/);
  rejects("{{ .metadata.name.x }}", only);
  rejects("{{ $.status }}", /^field "\$\.status" is not allowed/);
  rejects("{{ if .status.summary }}x{{ end }}", only);
  rejects("{{ with .metadata.labels.site }}{{ .x }}{{ end }}", /^field "\.x" is not allowed/);
  rejects("{{ with .metadata }}{{ .owner }}{{ end }}", /^field "\.owner" is not allowed/);
  rejects('{{ (index .metadata.labels "x").y }}', 'field access ".y" on a computed value is not allowed');
  rejects('{{ index .metadata "owner" }}', "index: cannot index a value of type object");
  rejects('{{ index . "spec" }}', "index: cannot index a value of type object");
  rejects("{{ . }}", "cannot print a value of type object");
  rejects("{{ .metadata.labels }}", "cannot print a value of type map");
});

test("nesting depth of if/with is limited to 10; else-if chains do not count", () => {
  const nest = (n: number) => `${"{{ if 1 }}".repeat(n)}x${"{{ end }}".repeat(n)}`;
  assert.equal(run(nest(10)), "x");
  rejects(nest(11), "nesting depth of if/with blocks exceeds 10");
  rejects("{{ with 1 }}".repeat(6) + "{{ if 1 }}".repeat(5) + "{{ end }}".repeat(11), /nesting depth/);
  const chain = `{{ if 0 }}${Array.from({ length: 20 }, (_, i) => `${i}{{ else if eq ${i} 19 }}`).join("")}last{{ end }}`;
  assert.equal(run(chain), "last");
  rejects(`{{ upper ${"(".repeat(11)}"a"${")".repeat(11)} }}`, /parenthesis nesting depth exceeds 10/);
});

test("hasPlaceholders", () => {
  assert.equal(hasPlaceholders("a {{ b"), true);
  assert.equal(hasPlaceholders("a { { b }}"), false);
});

const spec = () => ({
  os: { image: "quay.io/os:{{ .metadata.labels.site | lower }}" },
  config: [
    {
      name: "inline",
      inline: [
        { path: "/etc/{{ .metadata.name }}.conf", content: "site={{ .metadata.labels.site }}" },
        {
          path: "/etc/b64",
          contentEncoding: "base64",
          content: Buffer.from("host={{ .metadata.name }}\n").toString("base64"),
        },
        { path: "/etc/plain-b64", contentEncoding: "base64", content: Buffer.from("{ {not a template}}").toString("base64") },
      ],
    },
    {
      name: "git",
      gitRef: {
        repository: "r",
        targetRevision: '{{ getOrDefault .metadata.labels "rev" "main" }}',
        path: "/{{ .metadata.labels.region }}",
      },
    },
    { name: "http", httpRef: { repository: "h", filePath: "f", suffix: "/{{ .metadata.name }}" } },
    { name: "sec", secretRef: { name: "s-{{ .metadata.name }}", namespace: "ns", mountPath: "/m" } },
  ],
  applications: [
    {
      name: "{{ .metadata.name }}", // not a placeholder field: left untouched
      image: "app:{{ .metadata.labels.site }}",
      envVars: { SITE: "{{ .metadata.labels.site }}", FIXED: "1" },
      volumes: [{ name: "v", image: { reference: "vol:{{ .metadata.name }}" } }],
      inline: [{ path: "/app/{{ .metadata.name }}", content: "x" }],
    },
  ],
});

test("renderFields substitutes every device template field and leaves the input untouched", () => {
  const input = spec();
  const before = structuredClone(input);
  const out = renderFields(input, DEVICE_TEMPLATE_FIELDS, dev) as ReturnType<typeof spec>;
  assert.deepEqual(input, before);
  assert.equal(out.os.image, "quay.io/os:paris");
  assert.equal(out.config[0].inline![0].path, "/etc/dev-1.conf");
  assert.equal(out.config[0].inline![0].content, "site=Paris");
  assert.equal(Buffer.from(out.config[0].inline![1].content, "base64").toString(), "host=dev-1\n");
  assert.equal(out.config[0].inline![2].content, input.config[0].inline![2].content); // no placeholder: bytes kept
  assert.equal(out.config[1].gitRef!.targetRevision, "main");
  assert.equal(out.config[1].gitRef!.path, "/eu-west");
  assert.equal(out.config[2].httpRef!.suffix, "/dev-1");
  assert.equal(out.config[3].secretRef!.name, "s-dev-1");
  assert.equal(out.applications[0].image, "app:Paris");
  assert.deepEqual(out.applications[0].envVars, { SITE: "Paris", FIXED: "1" });
  assert.equal(out.applications[0].volumes[0].image.reference, "vol:dev-1");
  assert.equal(out.applications[0].inline[0].path, "/app/dev-1");
  assert.equal(out.applications[0].name, "{{ .metadata.name }}");
  assert.notEqual(out, input);
});

test("renderFields: unresolvable paths are skipped; non-objects pass through", () => {
  assert.deepEqual(renderFields({ os: "x", config: { not: "an array" } }, DEVICE_TEMPLATE_FIELDS, dev), {
    os: "x",
    config: { not: "an array" },
  });
  assert.deepEqual(renderFields({}, DEVICE_TEMPLATE_FIELDS, dev), {});
  assert.equal(renderFields(null, DEVICE_TEMPLATE_FIELDS, dev), null);
});

test("renderFields errors start with the concrete path", () => {
  const bad = {
    config: [
      {
        inline: [
          { path: "/ok", content: "" },
          { path: '{{ foo "x" }}', content: "" },
        ],
      },
    ],
  };
  assert.throws(
    () => renderFields(bad, DEVICE_TEMPLATE_FIELDS, dev),
    (e: unknown) => {
      assert.ok(e instanceof TemplateError);
      assert.equal(e.message, 'config[0].inline[1].path: unknown function "foo"');
      return true;
    },
  );
  // Cached failures still report the path of the field being rendered.
  const env = { applications: [{ envVars: { A: "ok" } }, { envVars: { B: '{{ foo "x" }}' } }] };
  assert.throws(() => renderFields(env, DEVICE_TEMPLATE_FIELDS, dev), {
    message: 'applications[1].envVars.B: unknown function "foo"',
  });
  const b64 = {
    config: [{ inline: [{ path: "/p", contentEncoding: "base64", content: Buffer.from("{{ range 1 }}").toString("base64") }] }],
  };
  assert.throws(() => renderFields(b64, DEVICE_TEMPLATE_FIELDS, dev), { message: "config[0].inline[0].content: range is not allowed" });
  // Execution-time errors carry the path too.
  const exec = { os: { image: "{{ eq .metadata.labels.site 1 }}" } };
  assert.throws(() => renderFields(exec, DEVICE_TEMPLATE_FIELDS, dev), /^TemplateError: os\.image: eq: incompatible types/);
});

test("validateFields lists every problem with its path, empty when fine", () => {
  assert.deepEqual(validateFields(spec(), DEVICE_TEMPLATE_FIELDS), []);
  const bad = {
    os: { image: "{{ .spec }}" },
    config: [{ inline: [{ path: "{{ if 1 }}", content: "fine {{ .metadata.name }}" }] }],
    applications: [{ envVars: { X: "{{ eq .metadata.labels.x 1 }}" } }],
  };
  const problems = validateFields(bad, DEVICE_TEMPLATE_FIELDS);
  assert.deepEqual(
    problems.map((p) => p.path),
    ["os.image", "config[0].inline[0].path", "applications[0].envVars.X"],
  );
  assert.match(problems[0].message, /^field "\.spec" is not allowed/);
  assert.equal(problems[1].message, "unexpected EOF: missing {{end}} for {{if}}");
  assert.match(problems[2].message, /^eq: incompatible types for comparison: string and int/);
  assert.deepEqual(bad.os, { image: "{{ .spec }}" }); // input untouched
});

test("DEVICE_TEMPLATE_FIELDS lists the flightctl placeholder fields", () => {
  assert.deepEqual([...DEVICE_TEMPLATE_FIELDS].sort(), [
    "applications[*].envVars.*",
    "applications[*].image",
    "applications[*].inline[*].content",
    "applications[*].inline[*].path",
    "applications[*].volumes[*].image.reference",
    "config[*].gitRef.path",
    "config[*].gitRef.targetRevision",
    "config[*].httpRef.filePath",
    "config[*].httpRef.suffix",
    "config[*].inline[*].content",
    "config[*].inline[*].path",
    "config[*].secretRef.mountPath",
    "config[*].secretRef.name",
    "config[*].secretRef.namespace",
    "os.image",
  ]);
});

test("rendering many devices is cheap once templates are compiled", () => {
  const input = spec();
  const start = performance.now();
  for (let i = 0; i < 10_000; i++) {
    const out = renderFields(input, DEVICE_TEMPLATE_FIELDS, { name: `d${i}`, labels: { site: `S${i % 7}` } }) as ReturnType<typeof spec>;
    if (i === 9_999) assert.equal(out.os.image, "quay.io/os:s3");
  }
  // Generous bound: catches re-parsing per device (orders of magnitude slower), not machine noise.
  assert.ok(performance.now() - start < 5_000, `10k renders took ${Math.round(performance.now() - start)}ms`);
});

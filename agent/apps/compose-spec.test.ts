// Which compose files an app's directory gives compose, in which order, and what makes them unusable.
import assert from "node:assert/strict";
import { test } from "node:test";
import { composeFiles, parseCompose } from "./compose-spec.js";

test("one base file, one override, then the agent's override, in flightctl's order", () => {
  assert.deepEqual(composeFiles(["README", ".env"]), []);
  assert.deepEqual(composeFiles(["compose.yaml", "docker-compose.yml"]), ["docker-compose.yml"]);
  assert.deepEqual(composeFiles(["podman-compose.yaml", "compose.yml"]), ["podman-compose.yaml"]);
  assert.deepEqual(
    composeFiles([
      "99-compose-flightctl-agent.override.yaml",
      "podman-compose.override.yml",
      "docker-compose.override.yaml",
      "docker-compose.yaml",
    ]),
    ["docker-compose.yaml", "docker-compose.override.yaml", "99-compose-flightctl-agent.override.yaml"],
  );
  // An override without a base is no project.
  assert.deepEqual(composeFiles(["docker-compose.override.yaml"]), []);
});

test("services and their images, overrides layered per service", () => {
  const files: Record<string, string> = {
    "docker-compose.yaml": "services:\n  web:\n    image: a:1\n    ports: ['80:80']\n  db:\n    image: d:1\n",
    "docker-compose.override.yaml": "services:\n  web:\n    image: a:2\n  extra:\n    image: e:1\n",
  };
  const r = parseCompose(["docker-compose.yaml", "docker-compose.override.yaml"], (f) => files[f]);
  assert.ok("services" in r, JSON.stringify(r));
  assert.deepEqual(Object.fromEntries(r.services), { web: "a:2", db: "d:1", extra: "e:1" });
});

test("what is refused, naming the file or service", () => {
  const one = (content: string) => parseCompose(["docker-compose.yaml"], () => content);
  const error = (r: ReturnType<typeof parseCompose>) => ("error" in r ? r.error : "");
  assert.match(error(parseCompose([], () => "")), /^no compose file: expected one of docker-compose\.yaml/);
  assert.match(error(one("services:\n  web: [\n")), /^docker-compose\.yaml does not parse: /);
  assert.match(error(one("- a\n- b\n")), /^docker-compose\.yaml is not a compose file/);
  assert.match(error(one("services: {}\n")), /^the compose spec has no services$/);
  assert.match(error(one("services: [web]\n")), /services must be a mapping/);
  assert.match(error(one("services:\n  web:\n    build: .\n")), /^service web has no image$/);
  assert.match(error(one("services:\n  web:\n    image: a:1\n    container_name: fixed\n")), /^service web has a container_name/);
  // Host binds: the agent's own paths and paths climbing out are refused; named volumes and app-relative paths are not.
  const vol = (v: string) => one(`services:\n  web:\n    image: a:1\n    volumes:\n      - ${v}\n`);
  assert.match(error(vol("/etc/flightctl/certs:/c")), /^service web: volume \/etc\/flightctl\/certs: .*reserved for the agent/);
  assert.match(
    error(vol("{type: bind, source: /var/lib/flightctl, target: /s}")),
    /^service web: volume \/var\/lib\/flightctl: .*reserved/,
  );
  assert.match(error(vol("../../etc:/e")), /^service web: volume \.\.\/\.\.\/etc: .*must not contain/);
  assert.match(error(vol("~/x:/x")), /home directory/);
  for (const ok of ["data:/data", "./conf:/conf:ro", "/srv/www:/www", "/tmp"]) assert.ok("services" in vol(ok), ok);
});

// flightctl-standalone: `render quadlets` writes the podman quadlet files, `render config` each process's config,
// both from one service-config.yaml (docs/operations.md "One-host deployment with podman quadlets").
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { renderConfig, renderQuadlets, HOST_CONFIG_DIR } from "./render.js";
import { parseServiceConfig, ServiceConfigError } from "./service-config.js";

const USAGE = `usage: flightctl-standalone render quadlets [--config FILE] [--output-dir DIR]
       flightctl-standalone render config   [--config FILE] [--output-dir DIR]

  --config      service-config.yaml (default ${HOST_CONFIG_DIR}/service-config.yaml)
  --output-dir  quadlets: default /etc/containers/systemd; config: default ${HOST_CONFIG_DIR}
`;

/** Runs the command; answers the exit code (0 ok, 1 bad config or I/O, 2 bad usage). */
export function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): number {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: "string" }, "output-dir": { type: "string" }, help: { type: "boolean", short: "h" } },
    });
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const [verb, what] = parsed.positionals;
  if (parsed.values.help) return (out(USAGE), 0);
  if (verb !== "render" || (what !== "quadlets" && what !== "config") || parsed.positionals.length !== 2) {
    err(USAGE);
    return 2;
  }
  const configFile = (parsed.values.config as string | undefined) ?? join(HOST_CONFIG_DIR, "service-config.yaml");
  const outDir = (parsed.values["output-dir"] as string | undefined) ?? (what === "quadlets" ? "/etc/containers/systemd" : HOST_CONFIG_DIR);
  try {
    const config = parseServiceConfig(readFileSync(configFile, "utf8"));
    const files = what === "quadlets" ? renderQuadlets(config) : renderConfig(config);
    for (const [name, content] of files) {
      const path = join(outDir, name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content, { mode: 0o644 });
      out(`${path}\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof ServiceConfigError)
      err(`${configFile} is not valid:\n${e.problems.map((p) => `  ${p.key}: ${p.message}`).join("\n")}\n`);
    else err(`flightctl-standalone: ${(e as Error).message}\n`);
    return 1;
  }
}

// A podman network with its own bridge and subnet, for tests and benches that run several podman storages (or run
// beside other tests' storages) on one machine. Left to podman, storages that each create a network at the same
// moment all pick the same bridge name (podmanN) and subnet, and one storage's teardown races another's setup on that
// bridge (containers left "Created"). podman 4.3 has no `network create --interface-name`, so the bridge name is set
// in the network's file, which podman reads on every command.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PodmanEnv } from "./podman.js";

/**
 * Creates network `name` in `env` on bridge `bridge` (at most 15 characters) with subnet `subnet` ("10.123.4.0/24").
 * A compose file that names it (`networks: {default: {name}}`) runs on it: podman-compose uses an existing network.
 */
export async function createNetwork(env: PodmanEnv, name: string, bridge: string, subnet: string): Promise<void> {
  if (bridge.length > 15) throw new Error(`bridge name "${bridge}" is longer than 15 characters`);
  await env.ok(["network", "create", "--subnet", subnet, name]);
  const file = join(env.dir, "networks", `${name}.json`);
  const conf = JSON.parse(readFileSync(file, "utf8")) as { network_interface: string };
  conf.network_interface = bridge;
  writeFileSync(file, JSON.stringify(conf, null, 2));
  const got = (await env.ok(["network", "inspect", name, "--format", "{{.NetworkInterface}}"])).trim();
  if (got !== bridge) throw new Error(`network ${name}: podman reads bridge "${got}", expected "${bridge}"`);
}

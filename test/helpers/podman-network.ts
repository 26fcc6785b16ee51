// A podman network with its own bridge and subnet, for tests and benches that run several podman storages (or run
// beside other tests' storages) on one machine. Left to podman, storages that each create a network at the same
// moment all pick the same bridge name (podmanN) and subnet, and one storage's teardown races another's setup on that
// bridge (containers left "Created"). podman 4.3 has no `network create --interface-name`, so the bridge name is set
// in the network's file, which podman reads on every command. The network is internal and without DNS: no firewall
// rules or aardvark-dns, whose shared host state storages also tear down under each other ("netavark: IO error").
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PodmanEnv } from "./podman.js";

/**
 * Creates network `name` in `env` on bridge `bridge` (at most 15 characters) with subnet `subnet` ("10.123.4.0/24").
 * A compose file that names it (`networks: {default: {name}}`) runs on it: podman-compose uses an existing network.
 * Answers a function that deletes the bridge once no container is on it (netavark leaves it behind): call it after
 * the env's close().
 */
export async function createNetwork(env: PodmanEnv, name: string, bridge: string, subnet: string): Promise<() => Promise<void>> {
  if (bridge.length > 15) throw new Error(`bridge name "${bridge}" is longer than 15 characters`);
  await env.ok(["network", "create", "--internal", "--disable-dns", "--subnet", subnet, name]);
  const file = join(env.dir, "networks", `${name}.json`);
  const conf = JSON.parse(readFileSync(file, "utf8")) as { network_interface: string };
  conf.network_interface = bridge;
  writeFileSync(file, JSON.stringify(conf, null, 2));
  const got = (await env.ok(["network", "inspect", name, "--format", "{{.NetworkInterface}}"])).trim();
  if (got !== bridge) throw new Error(`network ${name}: podman reads bridge "${got}", expected "${bridge}"`);
  return async () => {
    const dir = `/sys/class/net/${bridge}`;
    if (!existsSync(dir) || readdirSync(`${dir}/brif`).length > 0) return;
    await new Promise<void>((resolve) => execFile("ip", ["link", "del", bridge], () => resolve()));
  };
}

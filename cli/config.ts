// The client configuration, flightctl's layout: ~/.config/flightctl/client.yaml (client_<context>.yaml with
// --context), holding the server URL, its CA, the credentials and the current organization. Written 0600: it
// holds tokens. Every command reads it, so reading tries cli/simple-yaml.ts first and loads the yaml library only for
// a file outside that simple form (or to write one).
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { UsageError } from "./errors.js";
import { parseSimpleYaml } from "./simple-yaml.js";

export interface ClientConfig {
  service: {
    server: string;
    /** Base64 of the PEM CA bundle that signs the server's certificate. */
    "certificate-authority-data"?: string;
    insecureSkipVerify?: boolean;
  };
  authentication?: {
    /** A bearer token given with --token (no refresh). */
    token?: string;
    "auth-provider"?: {
      /** The AuthProvider's name on the server (used for refresh through AuthService.ExchangeToken). */
      name: string;
      config: {
        "client-id": string;
        issuer?: string;
        "token-url"?: string;
        "access-token": string;
        "refresh-token"?: string;
        /** Seconds since the epoch. */
        "expires-at"?: string;
        /** Base64 PEM CA of the auth provider, when it differs from the server's. */
        "certificate-authority-data"?: string;
      };
    };
  };
  organization?: string;
}

/** The global flags every verb accepts. */
export const globalArgs = {
  "config-dir": { type: "string", description: "Directory of the client configuration (default ~/.config/flightctl)" },
  context: { type: "string", alias: "c", description: "Configuration context: uses client_<context>.yaml" },
  org: { type: "string", description: "Organization id for this command (overrides the current organization)" },
  "request-timeout": { type: "string", description: "Seconds to wait for each request (default 30; 0 = no limit)" },
} as const;

export interface GlobalOptions {
  "config-dir"?: string;
  context?: string;
  org?: string;
  "request-timeout"?: string;
}

export function configPath(g: GlobalOptions): string {
  const dir =
    g["config-dir"] ?? process.env.FLIGHTCTL_CONFIG_DIR ?? join(process.env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), "flightctl");
  return join(dir, g.context ? `client_${g.context}.yaml` : "client.yaml");
}

export async function readConfig(g: GlobalOptions): Promise<ClientConfig> {
  const path = configPath(g);
  if (!existsSync(path)) throw new UsageError(`not logged in (no ${path}): run "flightctl login <server-url>" first`);
  const text = readFileSync(path, "utf8");
  let cfg: ClientConfig;
  try {
    cfg = (parseSimpleYaml(text) ?? (await import("yaml")).parse(text)) as ClientConfig;
  } catch (e) {
    throw new UsageError(`${path} is not valid YAML (${(e as Error).message}); fix it or log in again`);
  }
  if (!cfg?.service?.server) throw new UsageError(`${path} names no server (service.server); run "flightctl login <server-url>"`);
  return cfg;
}

export async function writeConfig(g: GlobalOptions, cfg: ClientConfig): Promise<string> {
  const { stringify } = await import("yaml");
  const path = configPath(g);
  mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
  writeFileSync(path, stringify(cfg), { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

export function removeConfig(g: GlobalOptions): boolean {
  const path = configPath(g);
  if (!existsSync(path)) return false;
  rmSync(path);
  return true;
}

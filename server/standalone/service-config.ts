// service-config.yaml: the one file an operator writes for a one-host deployment (docs/operations.md). It is read,
// checked (every error names its key, e.g. `db.external.port`), and completed with defaults, some from the host as
// flightctl-standalone does (global.baseDomain from the host's name, or its first IPv4 address when the name is not a
// domain). The rendered quadlets and env files are functions of the completed config only.
import { hostname, networkInterfaces } from "node:os";
import { parse } from "yaml";

export type AuthType = "pam" | "oidc" | "aap" | "none";

/** The completed configuration. */
export interface ServiceConfig {
  global: {
    /** Name (or address) agents and users reach the host by. */
    baseDomain: string;
    /** The image every flightctl-* process runs (deploy/Containerfile). */
    image: string;
    auth: {
      type: AuthType;
      /** oidc: issuer URL and client id. */
      oidc?: { issuer: string; clientId: string };
      /** aap: the AAP gateway's URL, client id, optional organization name prefix. */
      aap?: { apiUrl: string; clientId: string; organizationNamePrefix?: string };
      /** A PEM CA file on the host trusted for calls to the provider (a private AAP or IdP). */
      caFile?: string;
    };
  };
  db: {
    type: "builtin" | "external";
    /** builtin: the Postgres image. */
    image: string;
    name: string;
    user: string;
    /** external: where the database is. */
    external?: { hostname: string; port: number; sslmode: string };
  };
  kv: { image: string };
  prometheus: { image: string };
  alertmanager: { image: string };
  /** Host ports published for the API's user and agent endpoints, the PAM issuer, telemetry and alerts. */
  ports: { api: number; agent: number; pamIssuer: number; telemetry: number; alertmanagerProxy: number };
  /** flightctl-worker copies (each its own container). */
  worker: { replicas: number };
  service: { eventRetentionDays: number; logLevel: string };
  /** flightctl-userinfo-proxy (rendered when global.auth.type is aap). */
  userinfoProxy: { upstreamUrl?: string; insecureSkipTlsVerify: boolean };
}

/** A key that is wrong, with what is wrong. */
export interface ConfigProblem {
  key: string;
  message: string;
}

export class ServiceConfigError extends Error {
  override name = "ServiceConfigError";
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map((p) => `${p.key}: ${p.message}`).join("\n"));
  }
}

/** What the host says about itself (a parameter so tests fix it). */
export interface HostFacts {
  hostname: string;
  ipv4?: string;
}

export function hostFacts(): HostFacts {
  const ipv4 = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === "IPv4" && !i.internal)?.address;
  return { hostname: hostname(), ipv4 };
}

const KNOWN: Record<string, string[]> = {
  "": ["global", "db", "kv", "prometheus", "alertmanager", "ports", "worker", "service", "userinfoProxy"],
  global: ["baseDomain", "image", "auth"],
  "global.auth": ["type", "oidc", "aap", "caFile"],
  "global.auth.oidc": ["issuer", "clientId"],
  "global.auth.aap": ["apiUrl", "clientId", "organizationNamePrefix"],
  db: ["type", "image", "name", "user", "external"],
  "db.external": ["hostname", "port", "sslmode"],
  kv: ["image"],
  prometheus: ["image"],
  alertmanager: ["image"],
  ports: ["api", "agent", "pamIssuer", "telemetry", "alertmanagerProxy"],
  worker: ["replicas"],
  service: ["eventRetentionDays", "logLevel"],
  userinfoProxy: ["upstreamUrl", "insecureSkipTlsVerify"],
};

/** Typed reads of the parsed document, collecting problems under their dotted keys. */
function reader(doc: unknown) {
  const problems: ConfigProblem[] = [];
  const bad = (key: string, message: string) => void problems.push({ key, message });
  const at = (key: string): unknown =>
    key.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), doc);
  // Unknown keys are refused (a misspelt key would otherwise be ignored silently), and sections must be maps.
  for (const [section, keys] of Object.entries(KNOWN)) {
    const v = section ? at(section) : doc;
    if (v === undefined || v === null) continue;
    if (typeof v !== "object" || Array.isArray(v)) {
      bad(section || "(document)", "must be a map");
      continue;
    }
    for (const k of Object.keys(v)) if (!keys.includes(k)) bad(section ? `${section}.${k}` : k, `unknown key (known: ${keys.join(", ")})`);
  }
  const str = (key: string, def?: string): string | undefined => {
    const v = at(key);
    if (v === undefined || v === null || v === "") return def;
    if (typeof v !== "string") return (bad(key, "must be a string"), def);
    return v;
  };
  const int = (key: string, def: number, min: number, max: number): number => {
    const v = at(key);
    if (v === undefined || v === null) return def;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
      return (bad(key, `must be an integer from ${min} to ${max}`), def);
    return v;
  };
  const bool = (key: string, def: boolean): boolean => {
    const v = at(key);
    if (v === undefined || v === null) return def;
    if (typeof v !== "boolean") return (bad(key, "must be true or false"), def);
    return v;
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[], def: T): T => {
    const v = str(key, def);
    if (!allowed.includes(v as T)) return (bad(key, `must be one of ${allowed.join(", ")}`), def);
    return v as T;
  };
  const url = (key: string, required: boolean): string | undefined => {
    const v = str(key);
    if (v === undefined) return required ? (bad(key, "is required"), undefined) : undefined;
    if (!/^https?:$/.test(URL.parse(v)?.protocol ?? "")) return (bad(key, "must be an http:// or https:// URL"), undefined);
    return v;
  };
  const required = (key: string): string => str(key) ?? (bad(key, "is required"), "");
  return { problems, bad, str, int, bool, oneOf, url, required };
}

/** A DNS name a certificate and agents can use (not a bare single label like "localhost" or "myhost"). */
const isDomain = (n: string) => /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(n);

/** Reads service-config.yaml's text; throws ServiceConfigError listing every problem by key. */
export function parseServiceConfig(text: string, host: HostFacts = hostFacts()): ServiceConfig {
  let doc: unknown;
  try {
    doc = parse(text) ?? {};
  } catch (err) {
    throw new ServiceConfigError([{ key: "(document)", message: `not YAML: ${(err as Error).message.split("\n")[0]}` }]);
  }
  const r = reader(doc);
  const authType = r.oneOf("global.auth.type", ["pam", "oidc", "aap", "none"] as const, "pam");
  const dbType = r.oneOf("db.type", ["builtin", "external"] as const, "builtin");
  const baseDomain = r.str("global.baseDomain") ?? (isDomain(host.hostname) ? host.hostname : (host.ipv4 ?? host.hostname));
  if (!/^[a-z0-9.:-]+$/i.test(baseDomain)) r.bad("global.baseDomain", "must be a host name or an IP address");
  const aap =
    authType === "aap"
      ? {
          apiUrl: r.url("global.auth.aap.apiUrl", true) ?? "",
          clientId: r.required("global.auth.aap.clientId"),
          organizationNamePrefix: r.str("global.auth.aap.organizationNamePrefix"),
        }
      : undefined;
  const cfg: ServiceConfig = {
    global: {
      baseDomain,
      image: r.str("global.image", "localhost/flightctl-ts:latest")!,
      auth: {
        type: authType,
        oidc:
          authType === "oidc"
            ? { issuer: r.url("global.auth.oidc.issuer", true) ?? "", clientId: r.required("global.auth.oidc.clientId") }
            : undefined,
        aap,
        caFile: r.str("global.auth.caFile"),
      },
    },
    db: {
      type: dbType,
      image: r.str("db.image", "docker.io/library/postgres:16")!,
      name: r.str("db.name", "flightctl")!,
      user: r.str("db.user", "flightctl")!,
      external:
        dbType === "external"
          ? {
              hostname: r.required("db.external.hostname"),
              port: r.int("db.external.port", 5432, 1, 65535),
              sslmode: r.oneOf("db.external.sslmode", ["disable", "require", "verify-ca", "verify-full"] as const, "verify-full"),
            }
          : undefined,
    },
    kv: { image: r.str("kv.image", "docker.io/library/redis:7")! },
    prometheus: { image: r.str("prometheus.image", "quay.io/prometheus/prometheus:v2.43.1")! },
    alertmanager: { image: r.str("alertmanager.image", "quay.io/prometheus/alertmanager:v0.28.1")! },
    ports: {
      api: r.int("ports.api", 3443, 1, 65535),
      agent: r.int("ports.agent", 7443, 1, 65535),
      pamIssuer: r.int("ports.pamIssuer", 8444, 1, 65535),
      telemetry: r.int("ports.telemetry", 4317, 1, 65535),
      alertmanagerProxy: r.int("ports.alertmanagerProxy", 8443, 1, 65535),
    },
    worker: { replicas: r.int("worker.replicas", 1, 1, 32) },
    service: {
      eventRetentionDays: r.int("service.eventRetentionDays", 7, 1, 3650),
      logLevel: r.oneOf("service.logLevel", ["fatal", "error", "warn", "info", "debug", "trace"] as const, "info"),
    },
    userinfoProxy: {
      upstreamUrl:
        r.url("userinfoProxy.upstreamUrl", false) ?? (aap?.apiUrl ? `${aap.apiUrl.replace(/\/$/, "")}/api/gateway/v1/me/` : undefined),
      insecureSkipTlsVerify: r.bool("userinfoProxy.insecureSkipTlsVerify", false),
    },
  };
  if (r.str("db.external.hostname") && dbType !== "external") r.bad("db.external", 'is only read when db.type is "external"');
  const ports = Object.entries(cfg.ports);
  for (const [k, p] of ports)
    if (ports.some(([k2, p2]) => k2 < k && p2 === p)) r.bad(`ports.${k}`, `port ${p} is already taken by another ports key`);
  if (r.problems.length) throw new ServiceConfigError(r.problems);
  return cfg;
}

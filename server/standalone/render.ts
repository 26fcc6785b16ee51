// flightctl-standalone render: from the completed service config, the podman quadlet files (one container per
// process and backing service on one network, volumes for state) and each process's config (an env file of the
// FLIGHTCTL_* settings docs/server.md lists, plus the few files a process reads). Output is deterministic: the same
// config gives the same bytes, so the files can be compared, diffed and kept in git.
import { stringify } from "yaml";
import type { ServiceConfig } from "./service-config.js";

/** Where things live on the host (flightctl's layout). */
export const HOST_CONFIG_DIR = "/etc/flightctl";
/** Where the service image keeps this project (deploy/Containerfile). */
const APP_DIR = "/opt/flightctl";

/**
 * The C library's allocator settings flightctl-api runs with (docs/server.md, Memory). Each agent's TLS connection
 * has a 64 KB read buffer (Node's) of which an idle agent fills a page or two. Cut from glibc's heap, such a buffer
 * also makes resident the page its end borders on and whatever an earlier, freed allocation had touched inside it;
 * from 64 KB up, allocations are mapped on their own instead, where only the pages written are resident and freeing
 * returns them (10,000 idle agents: ≈ 50 MB less). The price is a map and unmap per 64 KB allocation (each plain TCP
 * read of Node's, e.g. from Postgres).
 */
export const API_MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: "65536" } as const;

type Section = [name: string, entries: [key: string, value: string | number][]];

/** A unit file: sections in order, keys in order (a key may repeat). */
function unit(description: string, sections: Section[]): string {
  const head = `# Rendered by flightctl-standalone from service-config.yaml; render again instead of editing.\n`;
  const all: Section[] = [["Unit", [["Description", description]]], ...sections];
  // Sections of the same name merge (the Unit section gets its dependencies from the callers).
  const merged = new Map<string, [string, string | number][]>();
  for (const [name, entries] of all) merged.set(name, [...(merged.get(name) ?? []), ...entries]);
  return head + [...merged].map(([name, entries]) => `[${name}]\n${entries.map(([k, v]) => `${k}=${v}`).join("\n")}\n`).join("\n");
}

const INSTALL: Section = ["Install", [["WantedBy", "multi-user.target default.target"]]];
const RESTART: Section = [
  "Service",
  [
    ["Restart", "always"],
    ["TimeoutStartSec", 300],
  ],
];

/** One flightctl-* process of the service image. */
interface Process {
  name: string;
  bin: string;
  description: string;
  ports?: string[];
  /** Units it needs up first (service names). */
  after: string[];
  volumes?: string[];
  /** Podman secrets given as environment variables: secret → variable. */
  secrets: Record<string, string>;
  oneshot?: boolean;
}

/** The processes of this project this config runs (their container names are their service names). */
export function processesOf(c: ServiceConfig): Process[] {
  const db = { "flightctl-database-url": "DATABASE_URL" };
  const redis = { "flightctl-redis-url": "FLIGHTCTL_REDIS_URL" };
  const dbUp = c.db.type === "builtin" ? ["flightctl-db.service"] : [];
  const migrated = ["flightctl-db-migrate.service"];
  // U: podman gives the volume to the image's user (1001), which writes the PKI there.
  const data = ["flightctl-data.volume:/var/lib/flightctl:Z,U"];
  const list: Process[] = [
    {
      name: "flightctl-db-migrate",
      bin: "flightctl-db-migrate.js",
      description: "Flight Control database migrations",
      after: dbUp,
      secrets: db,
      oneshot: true,
    },
    {
      name: "flightctl-api",
      bin: "flightctl-api.js",
      description: "Flight Control API server",
      ports: [`${c.ports.api}:3443`, `${c.ports.agent}:7443`],
      after: [...migrated, "flightctl-kv.service"],
      volumes: data,
      secrets: { ...db, ...redis },
    },
  ];
  for (let i = 1; i <= c.worker.replicas; i++) {
    const name = c.worker.replicas === 1 ? "flightctl-worker" : `flightctl-worker-${i}`;
    list.push({
      name,
      bin: "flightctl-worker.js",
      description: "Flight Control worker",
      after: [...migrated, "flightctl-kv.service"],
      secrets: { ...db, ...redis },
    });
  }
  list.push({
    name: "flightctl-periodic",
    bin: "flightctl-periodic.js",
    description: "Flight Control periodic tasks",
    after: [...migrated, "flightctl-kv.service"],
    secrets: { ...db, ...redis },
  });
  if (c.global.auth.type === "pam")
    list.push({
      name: "flightctl-pam-issuer",
      bin: "flightctl-pam-issuer.js",
      description: "Flight Control PAM issuer",
      ports: [`${c.ports.pamIssuer}:8444`],
      after: ["flightctl-api.service"],
      volumes: data,
      secrets: {},
    });
  list.push(
    {
      name: "flightctl-telemetry-gateway",
      bin: "flightctl-telemetry-gateway.js",
      description: "Flight Control telemetry gateway",
      ports: [`${c.ports.telemetry}:4317`],
      after: ["flightctl-api.service"],
      volumes: data,
      secrets: db,
    },
    {
      name: "flightctl-alert-exporter",
      bin: "flightctl-alert-exporter.js",
      description: "Flight Control alert exporter",
      after: [...migrated, "flightctl-alertmanager.service"],
      secrets: db,
    },
    {
      name: "flightctl-alertmanager-proxy",
      bin: "flightctl-alertmanager-proxy.js",
      description: "Flight Control Alertmanager proxy",
      ports: [`${c.ports.alertmanagerProxy}:8443`],
      after: ["flightctl-alertmanager.service", "flightctl-api.service"],
      volumes: data,
      secrets: db,
    },
  );
  if (c.global.auth.type === "aap")
    list.push({
      name: "flightctl-userinfo-proxy",
      bin: "flightctl-userinfo-proxy.js",
      description: "Flight Control AAP userinfo proxy",
      after: [],
      secrets: {},
    });
  return list;
}

function processUnit(c: ServiceConfig, p: Process): string {
  const deps = p.after.length
    ? [["After", p.after.join(" ")] as [string, string], ["Requires", p.after.join(" ")] as [string, string]]
    : [];
  const container: [string, string | number][] = [
    ["ContainerName", p.name],
    ["Image", c.global.image],
    ["Exec", `${APP_DIR}/bin/${p.bin}`],
    ["Network", "flightctl.network"],
    ["EnvironmentFile", `${HOST_CONFIG_DIR}/${p.name.replace(/-\d+$/, "")}/env`],
    ...Object.entries(p.secrets).map(([s, v]) => ["Secret", `${s},type=env,target=${v}`] as [string, string]),
    ...(p.volumes ?? []).map((v) => ["Volume", v] as [string, string]),
    ...(p.ports ?? []).map((port) => ["PublishPort", port] as [string, string]),
  ];
  if (p.name === "flightctl-api" && c.global.auth.caFile)
    container.push(["Volume", `${c.global.auth.caFile}:${HOST_CONFIG_DIR}/auth-ca.pem:ro,Z`]);
  if (p.name === "flightctl-api" && c.global.auth.type !== "none")
    container.push([
      "Volume",
      `${HOST_CONFIG_DIR}/flightctl-api/auth-providers.yaml:${HOST_CONFIG_DIR}/flightctl-api/auth-providers.yaml:ro,Z`,
    ]);
  const service: Section = p.oneshot
    ? [
        "Service",
        [
          ["Type", "oneshot"],
          ["RemainAfterExit", "yes"],
          ["TimeoutStartSec", 600],
        ],
      ]
    : RESTART;
  return unit(p.description, [["Unit", deps], ["Container", container], service, INSTALL]);
}

/** The quadlet files: file name → content. */
export function renderQuadlets(c: ServiceConfig): Map<string, string> {
  const out = new Map<string, string>();
  out.set("flightctl.network", unit("Flight Control network", [["Network", [["NetworkName", "flightctl"]]], INSTALL]));
  const volume = (name: string, what: string) => out.set(`${name}.volume`, unit(what, [["Volume", [["VolumeName", name]]]]));
  volume("flightctl-data", "Flight Control PKI and keys");
  volume("flightctl-kv", "Flight Control Redis data");
  volume("flightctl-prometheus", "Flight Control Prometheus data");
  volume("flightctl-alertmanager", "Flight Control Alertmanager data");
  if (c.db.type === "builtin") {
    volume("flightctl-db", "Flight Control database");
    out.set(
      "flightctl-db.container",
      unit("Flight Control database (PostgreSQL)", [
        [
          "Container",
          [
            ["ContainerName", "flightctl-db"],
            ["Image", c.db.image],
            ["Network", "flightctl.network"],
            ["Volume", "flightctl-db.volume:/var/lib/postgresql/data:Z"],
            ["Environment", `POSTGRES_DB=${c.db.name}`],
            ["Environment", `POSTGRES_USER=${c.db.user}`],
            ["Secret", "flightctl-postgresql-password,type=env,target=POSTGRES_PASSWORD"],
            ["HealthCmd", `pg_isready -U ${c.db.user} -d ${c.db.name}`],
          ],
        ],
        RESTART,
        INSTALL,
      ]),
    );
  }
  out.set(
    "flightctl-kv.container",
    unit("Flight Control key-value store (Redis)", [
      [
        "Container",
        [
          ["ContainerName", "flightctl-kv"],
          ["Image", c.kv.image],
          ["Network", "flightctl.network"],
          ["Volume", "flightctl-kv.volume:/data:Z"],
          ["Secret", "flightctl-kv-password,type=env,target=REDIS_PASSWORD"],
          // The password comes from the secret at start; the shell only expands it (no user input).
          ["Exec", `sh -c 'exec redis-server --appendonly yes --requirepass "$REDIS_PASSWORD"'`],
        ],
      ],
      RESTART,
      INSTALL,
    ]),
  );
  out.set(
    "flightctl-prometheus.container",
    unit("Flight Control Prometheus", [
      ["Unit", [["After", "flightctl-api.service"]]],
      [
        "Container",
        [
          ["ContainerName", "flightctl-prometheus"],
          ["Image", c.prometheus.image],
          ["Network", "flightctl.network"],
          ["Volume", "flightctl-prometheus.volume:/prometheus:Z"],
          ["Volume", `${HOST_CONFIG_DIR}/flightctl-prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro,Z`],
        ],
      ],
      RESTART,
      INSTALL,
    ]),
  );
  out.set(
    "flightctl-alertmanager.container",
    unit("Flight Control Alertmanager", [
      [
        "Container",
        [
          ["ContainerName", "flightctl-alertmanager"],
          ["Image", c.alertmanager.image],
          ["Network", "flightctl.network"],
          ["Volume", "flightctl-alertmanager.volume:/alertmanager:Z"],
          ["Volume", `${HOST_CONFIG_DIR}/flightctl-alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro,Z`],
        ],
      ],
      RESTART,
      INSTALL,
    ]),
  );
  for (const p of processesOf(c)) out.set(`${p.name}.container`, processUnit(c, p));
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

const envFile = (vars: Record<string, string | number | undefined>) =>
  `# Rendered by flightctl-standalone from service-config.yaml (docs/server.md lists every setting).\n${Object.entries(vars)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n")}\n`;

/** Each process's config, by path under the host config dir (flightctl-api/env, flightctl-prometheus/prometheus.yml, …). */
export function renderConfig(c: ServiceConfig): Map<string, string> {
  const out = new Map<string, string>();
  const d = c.global.baseDomain;
  const common = { LOG_LEVEL: c.service.logLevel, FLIGHTCTL_DATA_DIR: "/var/lib/flightctl" };
  const issuerUrl = `https://${d}:${c.ports.pamIssuer}/api/v1/auth`;
  out.set("flightctl-db-migrate/env", envFile({ LOG_LEVEL: c.service.logLevel }));
  out.set(
    "flightctl-api/env",
    envFile({
      ...common,
      FLIGHTCTL_API_ADDRESS: "0.0.0.0:3443",
      FLIGHTCTL_AGENT_ADDRESS: "0.0.0.0:7443",
      FLIGHTCTL_API_SANS: d,
      FLIGHTCTL_AGENT_ENDPOINT_URL: `https://${d}:${c.ports.agent}`,
      FLIGHTCTL_UI_URL: `https://${d}:${c.ports.api}`,
      FLIGHTCTL_AUTH_CONFIG: c.global.auth.type === "none" ? undefined : `${HOST_CONFIG_DIR}/flightctl-api/auth-providers.yaml`,
      FLIGHTCTL_AUTH_CA_FILE: c.global.auth.caFile ? `${HOST_CONFIG_DIR}/auth-ca.pem` : undefined,
      // Service metrics on a port of their own, reached only on the flightctl network (by Prometheus).
      FLIGHTCTL_METRICS_ADDRESS: "0.0.0.0:9090",
      FLIGHTCTL_PROMETHEUS_URL: "http://flightctl-prometheus:9090",
      ...API_MALLOC_ENV,
    }),
  );
  const jobs = {
    ...common,
    FLIGHTCTL_WORKER_METRICS_ADDRESS: "0.0.0.0:9091",
    FLIGHTCTL_EVENT_RETENTION_DAYS: c.service.eventRetentionDays,
  };
  out.set("flightctl-worker/env", envFile(jobs));
  out.set("flightctl-periodic/env", envFile(jobs));
  if (c.global.auth.type === "pam")
    out.set(
      "flightctl-pam-issuer/env",
      envFile({
        ...common,
        FLIGHTCTL_PAM_ISSUER_ADDRESS: "0.0.0.0:8444",
        FLIGHTCTL_PAM_ISSUER_URL: issuerUrl,
        FLIGHTCTL_PAM_REDIRECT_URIS: `https://${d}:${c.ports.api}/callback,http://127.0.0.1:7777/callback`,
      }),
    );
  out.set(
    "flightctl-telemetry-gateway/env",
    envFile({ ...common, FLIGHTCTL_TELEMETRY_GRPC_ADDRESS: "0.0.0.0:4317", FLIGHTCTL_TELEMETRY_PROMETHEUS_ADDRESS: "0.0.0.0:9464" }),
  );
  out.set("flightctl-alert-exporter/env", envFile({ ...common, FLIGHTCTL_ALERTMANAGER_URL: "http://flightctl-alertmanager:9093" }));
  out.set(
    "flightctl-alertmanager-proxy/env",
    envFile({
      ...common,
      FLIGHTCTL_ALERTMANAGER_URL: "http://flightctl-alertmanager:9093",
      FLIGHTCTL_ALERTMANAGER_PROXY_ADDRESS: "0.0.0.0:8443",
    }),
  );
  if (c.global.auth.type === "aap")
    out.set(
      "flightctl-userinfo-proxy/env",
      envFile({
        LOG_LEVEL: c.service.logLevel,
        FLIGHTCTL_USERINFO_ADDRESS: "0.0.0.0:8080",
        FLIGHTCTL_USERINFO_UPSTREAM_URL: c.userinfoProxy.upstreamUrl,
        FLIGHTCTL_USERINFO_SKIP_TLS_VERIFY: c.userinfoProxy.insecureSkipTlsVerify ? "true" : undefined,
      }),
    );
  if (c.global.auth.type !== "none") out.set("flightctl-api/auth-providers.yaml", authProviders(c, issuerUrl));
  out.set(
    "flightctl-prometheus/prometheus.yml",
    stringify({
      global: { scrape_interval: "30s" },
      scrape_configs: [
        { job_name: "flightctl-api", static_configs: [{ targets: ["flightctl-api:9090"] }] },
        {
          job_name: "flightctl-worker",
          static_configs: [
            {
              targets: workerNames(c)
                .map((w) => `${w}:9091`)
                .concat("flightctl-periodic:9091"),
            },
          ],
        },
        { job_name: "flightctl-telemetry-gateway", static_configs: [{ targets: ["flightctl-telemetry-gateway:9464"] }] },
      ],
    }),
  );
  out.set(
    "flightctl-alertmanager/alertmanager.yml",
    stringify({ route: { receiver: "default", group_by: ["alertname", "org_id"] }, receivers: [{ name: "default" }] }),
  );
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

const workerNames = (c: ServiceConfig) =>
  c.worker.replicas === 1 ? ["flightctl-worker"] : Array.from({ length: c.worker.replicas }, (_, i) => `flightctl-worker-${i + 1}`);

/** The AuthProvider documents flightctl-api trusts (FLIGHTCTL_AUTH_CONFIG), from global.auth. */
function authProviders(c: ServiceConfig, pamIssuerUrl: string): string {
  const a = c.global.auth;
  const doc = (name: string, spec: Record<string, unknown>) => ({ apiVersion: "v1beta1", kind: "AuthProvider", metadata: { name }, spec });
  const docs =
    a.type === "pam"
      ? [
          doc("pam", {
            providerType: "oidc",
            displayName: "Local users (PAM)",
            issuer: pamIssuerUrl,
            clientId: "flightctl-client",
            enabled: true,
          }),
        ]
      : a.type === "oidc" && a.oidc
        ? [doc("oidc", { providerType: "oidc", issuer: a.oidc.issuer, clientId: a.oidc.clientId, enabled: true })]
        : a.aap
          ? [
              doc("aap", {
                providerType: "aap",
                displayName: "Ansible Automation Platform",
                apiUrl: a.aap.apiUrl,
                clientId: a.aap.clientId,
                authorizationUrl: `${a.aap.apiUrl.replace(/\/$/, "")}/o/authorize/`,
                tokenUrl: `${a.aap.apiUrl.replace(/\/$/, "")}/o/token/`,
                ...(a.aap.organizationNamePrefix ? { organizationNamePrefix: a.aap.organizationNamePrefix } : {}),
                enabled: true,
              }),
            ]
          : [];
  return docs.map((d) => stringify(d)).join("---\n");
}

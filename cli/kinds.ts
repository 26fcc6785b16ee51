// Resource kinds the CLI knows: their names (plural, singular, short, as flightctl's CLI accepts them) and where
// their generated service and message schema live. Services are imported lazily so a verb loads only what it uses.
import type { DescMessage, DescService } from "@bufbuild/protobuf";
import { UsageError } from "./errors.js";

export interface KindDef {
  /** Kind as in documents, e.g. "Device". */
  kind: string;
  /** Plural as in method names, e.g. "Devices" (ListDevices). */
  plural: string;
  /** Every name a user may type (lower case). */
  names: string[];
  /** Has create-or-replace (apply) and patch. */
  writable: boolean;
  /** Lives under a fleet (templateversions): requests carry `fleet`. */
  fleetScoped?: boolean;
  /** Request field holding the resource in Replace requests, e.g. "device". */
  field: string;
  load(): Promise<{ service: DescService; schema: DescMessage }>;
}

const def = (
  kind: string,
  plural: string,
  short: string[],
  load: KindDef["load"],
  opts: { writable?: boolean; fleetScoped?: boolean } = {},
): KindDef => ({
  kind,
  plural,
  names: [kind.toLowerCase(), plural.toLowerCase(), ...short],
  writable: opts.writable ?? true,
  fleetScoped: opts.fleetScoped,
  field: kind[0].toLowerCase() + kind.slice(1),
  load,
});

export const kinds: KindDef[] = [
  def("Device", "Devices", ["dev"], async () => {
    const [s, m] = await Promise.all([
      import("../gen/flightctl/v1beta1/device_service_pb.js"),
      import("../gen/flightctl/v1beta1/device_pb.js"),
    ]);
    return { service: s.DeviceService, schema: m.DeviceSchema };
  }),
  def("Fleet", "Fleets", ["flt"], async () => {
    const [s, m] = await Promise.all([
      import("../gen/flightctl/v1beta1/fleet_service_pb.js"),
      import("../gen/flightctl/v1beta1/fleet_pb.js"),
    ]);
    return { service: s.FleetService, schema: m.FleetSchema };
  }),
  def("EnrollmentRequest", "EnrollmentRequests", ["er"], async () => {
    const [s, m] = await Promise.all([
      import("../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js"),
      import("../gen/flightctl/v1beta1/enrollmentrequest_pb.js"),
    ]);
    return { service: s.EnrollmentRequestService, schema: m.EnrollmentRequestSchema };
  }),
  def("CertificateSigningRequest", "CertificateSigningRequests", ["csr"], async () => {
    const [s, m] = await Promise.all([
      import("../gen/flightctl/v1beta1/certificatesigningrequest_service_pb.js"),
      import("../gen/flightctl/v1beta1/certificatesigningrequest_pb.js"),
    ]);
    return { service: s.CertificateSigningRequestService, schema: m.CertificateSigningRequestSchema };
  }),
  def("Repository", "Repositories", ["repo"], async () => {
    const [s, m] = await Promise.all([
      import("../gen/flightctl/v1beta1/repository_service_pb.js"),
      import("../gen/flightctl/v1beta1/repository_pb.js"),
    ]);
    return { service: s.RepositoryService, schema: m.RepositorySchema };
  }),
  def("ResourceSync", "ResourceSyncs", ["rs"], async () => {
    const [s, m] = await Promise.all([
      import("../gen/flightctl/v1beta1/resourcesync_service_pb.js"),
      import("../gen/flightctl/v1beta1/resourcesync_pb.js"),
    ]);
    return { service: s.ResourceSyncService, schema: m.ResourceSyncSchema };
  }),
  def(
    "TemplateVersion",
    "TemplateVersions",
    ["tv"],
    async () => {
      const [s, m] = await Promise.all([
        import("../gen/flightctl/v1beta1/templateversion_service_pb.js"),
        import("../gen/flightctl/v1beta1/templateversion_pb.js"),
      ]);
      return { service: s.TemplateVersionService, schema: m.TemplateVersionSchema };
    },
    { writable: false, fleetScoped: true },
  ),
  def(
    "Event",
    "Events",
    ["ev"],
    async () => {
      const [s, m] = await Promise.all([
        import("../gen/flightctl/v1beta1/event_service_pb.js"),
        import("../gen/flightctl/v1beta1/event_pb.js"),
      ]);
      return { service: s.EventService, schema: m.EventSchema };
    },
    { writable: false },
  ),
  def(
    "Organization",
    "Organizations",
    ["org"],
    async () => {
      const [s, m] = await Promise.all([
        import("../gen/flightctl/v1beta1/organization_service_pb.js"),
        import("../gen/flightctl/v1beta1/organization_pb.js"),
      ]);
      return { service: s.OrganizationService, schema: m.OrganizationSchema };
    },
    { writable: false },
  ),
  def("AuthProvider", "AuthProviders", ["ap"], async () => {
    const [s, m] = await Promise.all([
      import("../gen/flightctl/v1beta1/authprovider_service_pb.js"),
      import("../gen/flightctl/v1beta1/authprovider_pb.js"),
    ]);
    return { service: s.AuthProviderService, schema: m.AuthProviderSchema };
  }),
];

const byName = new Map(kinds.flatMap((k) => k.names.map((n) => [n, k] as const)));
const byKind = new Map(kinds.map((k) => [k.kind, k] as const));

export const kindNamesHelp = kinds.map((k) => `${k.names[1]} (${k.names.slice(2).join(", ")})`).join(", ");

/** Finds a kind by any of its names; the error lists what exists. */
export function lookupKind(name: string): KindDef {
  const k = byName.get(name.toLowerCase());
  if (!k) throw new UsageError(`unknown resource type "${name}"; known types: ${kindNamesHelp}`);
  return k;
}

/** Finds a kind by its document `kind` field. */
export function kindOfDocument(kind: unknown, where: string): KindDef {
  const k = typeof kind === "string" ? byKind.get(kind) : undefined;
  if (!k) {
    throw new UsageError(
      `${where}: ${kind === undefined ? 'missing "kind"' : `unknown kind ${JSON.stringify(kind)}`}; expected one of ${kinds
        .filter((x) => x.writable)
        .map((x) => x.kind)
        .join(", ")}`,
    );
  }
  return k;
}

/**
 * Splits the TYPE / TYPE/NAME / TYPE NAME… arguments of get, delete, edit: ["devices"], ["device/a"],
 * ["device", "a", "b"] or ["device/a", "device/b"].
 */
export function parseTargets(args: string[]): { kind: KindDef; names: string[] } {
  if (args.length === 0)
    throw new UsageError(`a resource type is required, e.g. "devices" or "device/<name>"; known types: ${kindNamesHelp}`);
  if (args[0].includes("/")) {
    let kind: KindDef | undefined;
    const names = args.map((a) => {
      const [t, n, ...rest] = a.split("/");
      if (!n || rest.length) throw new UsageError(`"${a}" is not TYPE/NAME`);
      const k = lookupKind(t);
      if (kind && kind !== k) throw new UsageError(`all arguments must be of one type; got ${kind.names[1]} and ${k.names[1]}`);
      kind = k;
      return n;
    });
    return { kind: kind!, names };
  }
  const [t, ...names] = args;
  for (const n of names) if (n.includes("/")) throw new UsageError(`"${n}": use either TYPE NAME… or TYPE/NAME…, not both`);
  return { kind: lookupKind(t), names };
}

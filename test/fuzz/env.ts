// The system under fuzz: the real API server (both endpoints, real TLS) on a fresh database, an admin's bearer token,
// an enrolled device's mTLS certificate and an enrollment certificate, a few resources that exist (so generated names
// sometimes hit them), and every method of every service each endpoint serves, read from its own gRPC reflection.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { create, fromBinary, fromJson, type DescService } from "@bufbuild/protobuf";
import { createFileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { startApi, type RunningApi } from "../../server/main/api.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { startTestIssuer, type TestIssuer } from "../helpers/oidc.js";
import { createCsr, deviceNameFromPublicKey, generateDeviceKey } from "../../lib/csr.js";
import { ServerReflection } from "../../gen/third_party/grpc/reflection/v1/reflection_pb.js";
import { EnrollmentConfigService } from "../../gen/flightctl/v1beta1/enrollmentconfig_service_pb.js";
import { EnrollmentRequestService } from "../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { RepositoryService } from "../../gen/flightctl/v1beta1/repository_service_pb.js";
import { DeviceSchema } from "../../gen/flightctl/v1beta1/device_pb.js";
import { FleetSchema } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import { RepositorySchema } from "../../gen/flightctl/v1beta1/repository_pb.js";
import { AgentEnrollmentService } from "../../gen/flightctl/agent/v1beta1/enrollment_service_pb.js";
import type { Credential, Target } from "./inputs.js";
import type { EndpointTls } from "./protocols.js";

export interface FuzzEnv {
  api: RunningApi;
  db: TestDatabase;
  targets: Target[];
  /** TLS (and client certificate) per credential. */
  tls: Record<Credential, EndpointTls>;
  /** Headers a credential sends (the admin's bearer token). */
  headers: Record<Credential, Record<string, string>>;
  /** Log lines the server wrote at error level, and how many of them carry SQL text. */
  logStats: { errors: number; withSql: number; samples: string[] };
  /** Both endpoints answer /healthz. */
  healthy(): Promise<string | undefined>;
  close(): Promise<void>;
}

const SEEDED = ["fuzz-device", "fuzz-fleet", "fuzz-repo"];

/** A logger that counts what the server logs at error level instead of printing it (hundreds of lines per run). */
function countingLogger(stats: FuzzEnv["logStats"]) {
  const level = process.env.FC_FUZZ_LOG_LEVEL ?? "error";
  return pino(
    { name: "flightctl-api", level },
    {
      write(line: string) {
        stats.errors++;
        if (/\b(select|insert into|update \w+ set|delete from)\b/i.test(line)) stats.withSql++;
        // Distinct errors: the log message, SQLSTATE and error text.
        let key = line.slice(0, 200);
        try {
          const o = JSON.parse(line) as { msg?: string; procedure?: string; err?: { code?: string; message?: string } };
          key = `${o.msg ?? ""} ${o.procedure ?? ""}: ${o.err?.code ?? ""} ${(o.err?.message ?? "").slice(0, 120)}`;
        } catch {}
        if (stats.samples.length < 10 && !stats.samples.includes(key)) stats.samples.push(key);
        if (process.env.FC_FUZZ_LOG_LEVEL) process.stderr.write(line);
      },
    },
  );
}

function get(url: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(url, { ca, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(0));
  });
}

/** Every service an endpoint serves, as descriptors built from what its reflection returns. */
async function discover(transport: Transport, headers: Record<string, string>): Promise<DescService[]> {
  const client = createClient(ServerReflection, transport);
  async function* one(req: object) {
    yield req as never;
  }
  const ask = async (req: object) => {
    for await (const r of client.serverReflectionInfo(one(req), { headers })) return r.messageResponse;
    throw new Error("reflection gave no answer");
  };
  const listed = await ask({ messageRequest: { case: "listServices", value: "" } });
  if (listed.case !== "listServicesResponse") throw new Error(`reflection: ${listed.case}`);
  const names = listed.value.service.map((s) => s.name);
  const files = new Map<string, Uint8Array>();
  for (const name of names) {
    const fd = await ask({ messageRequest: { case: "fileContainingSymbol", value: name } });
    if (fd.case !== "fileDescriptorResponse") throw new Error(`reflection: no file for ${name}`);
    for (const b of fd.value.fileDescriptorProto) files.set(fromBinary(FileDescriptorProtoSchema, b).name, b);
  }
  // A FileDescriptorSet registry wants every file after its imports.
  const protos = new Map([...files].map(([name, b]) => [name, fromBinary(FileDescriptorProtoSchema, b)]));
  const ordered: FileDescriptorProto[] = [];
  const visit = (name: string) => {
    const fdp = protos.get(name);
    if (!fdp || ordered.includes(fdp)) return;
    fdp.dependency.forEach(visit);
    ordered.push(fdp);
  };
  for (const name of protos.keys()) visit(name);
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
  return names.map((n) => {
    const s = registry.getService(n);
    if (!s) throw new Error(`reflection listed ${n} but its file does not define it`);
    return s;
  });
}

export async function startFuzzEnv(): Promise<FuzzEnv> {
  const db = await createTestDatabase();
  const issuer: TestIssuer = await startTestIssuer();
  const dataDir = mkdtempSync(join(tmpdir(), "fc-fuzz-"));
  chmodSync(dataDir, 0o755);
  const logStats = { errors: 0, withSql: 0, samples: [] as string[] };
  const api = await startApi({
    databaseUrl: db.url,
    dataDir,
    address: "127.0.0.1:0",
    agentAddress: "127.0.0.1:0",
    authProviders: [issuer.provider()],
    webDir: "",
    lastSeenFlushMs: 200,
    log: countingLogger(logStats),
  });
  const ca = readFileSync(api.bundlePath, "utf8");
  const userUrl = `https://localhost:${api.port}`;
  const agentUrl = `https://localhost:${api.agentPort}`;
  const token = await issuer.token("fuzz-admin", { roles: ["flightctl-admin"] });
  const admin = { authorization: `Bearer ${token}` };
  // The setup's own connections, closed at the end so the server's close does not wait for them.
  const managers: Http2SessionManager[] = [];
  const grpcTo = (baseUrl: string, tlsOptions: { ca: string; cert?: string; key?: string }) => {
    const sessionManager = new Http2SessionManager(baseUrl, {}, tlsOptions);
    managers.push(sessionManager);
    return createGrpcTransport({ baseUrl, sessionManager });
  };
  const userGrpc = grpcTo(userUrl, { ca });
  const user = <S extends DescService>(s: S) => createClient(s, userGrpc);

  // Resources that exist, so some generated names reach code past the lookup.
  await user(DeviceService).createDevice(
    {
      device: fromJson(DeviceSchema, { apiVersion: "v1beta1", kind: "Device", metadata: { name: "fuzz-device", labels: { site: "lab" } } }),
    },
    { headers: admin },
  );
  await user(FleetService).createFleet(
    {
      fleet: fromJson(FleetSchema, {
        apiVersion: "v1beta1",
        kind: "Fleet",
        metadata: { name: "fuzz-fleet" },
        spec: { selector: { matchLabels: { site: "lab" } }, template: { metadata: { labels: { fleet: "fuzz-fleet" } }, spec: {} } },
      }),
    },
    { headers: admin },
  );
  await user(RepositoryService).createRepository(
    {
      repository: fromJson(RepositorySchema, {
        apiVersion: "v1beta1",
        kind: "Repository",
        metadata: { name: "fuzz-repo" },
        spec: { type: "git", url: "https://example.com/fuzz.git" },
      }),
    },
    { headers: admin },
  );

  // An enrolled device: the agent endpoint's device RPCs need its management certificate.
  const cfg = await user(EnrollmentConfigService).getEnrollmentConfig({}, { headers: admin });
  const a = cfg.enrollmentService!.authentication!;
  const enrollment = {
    baseUrl: agentUrl,
    ca,
    cert: Buffer.from(a.clientCertificateData!, "base64").toString(),
    key: Buffer.from(a.clientKeyData!, "base64").toString(),
  };
  const enrollGrpc = grpcTo(agentUrl, { ca, cert: enrollment.cert, key: enrollment.key });
  const keys = await generateDeviceKey();
  const deviceName = await deviceNameFromPublicKey(keys.publicKey);
  const agentEnroll = createClient(AgentEnrollmentService, enrollGrpc);
  await agentEnroll.createEnrollmentRequest({
    enrollmentRequest: {
      apiVersion: "v1beta1",
      kind: "EnrollmentRequest",
      metadata: { name: deviceName },
      spec: { csr: await createCsr(keys, deviceName) },
    },
  });
  await user(EnrollmentRequestService).approveEnrollmentRequest({ name: deviceName, approval: { approved: true } }, { headers: admin });
  const er = await agentEnroll.getEnrollmentRequest({ name: deviceName });
  const device: EndpointTls = { baseUrl: agentUrl, ca, cert: er.status!.certificate!, key: keys.keyPem };

  const tls: Record<Credential, EndpointTls> = { admin: { baseUrl: userUrl, ca }, device, enrollment };
  const headers: Record<Credential, Record<string, string>> = { admin, device: {}, enrollment: {} };
  const userServices = await discover(userGrpc, admin);
  const agentServices = await discover(grpcTo(agentUrl, { ca, cert: device.cert, key: device.key }), {});
  for (const m of managers) m.abort();
  const targets: Target[] = [];
  // One array per endpoint: the generators are built once per list of names.
  const userNames = [...SEEDED, deviceName];
  const agentNames = [deviceName, ...SEEDED];
  for (const service of userServices)
    for (const method of service.methods) targets.push({ endpoint: "user", credential: "admin", service, method, knownNames: userNames });
  for (const service of agentServices) {
    // Enrollment RPCs take the enrollment certificate; the rest the device's own.
    const credential: Credential = /Enrollment/.test(service.name) ? "enrollment" : "device";
    for (const method of service.methods) targets.push({ endpoint: "agent", credential, service, method, knownNames: agentNames });
  }

  return {
    api,
    db,
    targets,
    tls,
    headers,
    logStats,
    async healthy() {
      for (const url of [userUrl, agentUrl]) {
        const status = await get(`${url}/healthz`, ca);
        if (status !== 200) return `${url}/healthz answered ${status || "nothing"}`;
      }
      return undefined;
    },
    async close() {
      await api.close();
      await issuer.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// Rate limits on the RPC endpoints over real sockets: per user and per device certificate after authentication
// (ResourceExhausted with a google.rpc.RetryInfo detail and Retry-After), per client IP on enrollment request creation
// (X-Forwarded-For ignored from an untrusted peer, honoured from a trusted proxy), and a burst of agent streams with one
// certificate never throttled; ExchangeToken relays the provider's 429 and has its own per-IP limit.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { createPamIssuer, type PamIssuer } from "../server/pam-issuer/issuer.js";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { oidcProvider } from "../server/auth/oidc-provider.js";
import { AuthService } from "../gen/flightctl/v1beta1/auth_service_pb.js";
import { after, before, describe, test } from "node:test";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { RetryInfoSchema } from "../gen/third_party/google/rpc/error_details_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { EnrollmentConfigService } from "../gen/flightctl/v1beta1/enrollmentconfig_service_pb.js";
import { AgentEnrollmentService } from "../gen/flightctl/agent/v1beta1/enrollment_service_pb.js";
import { AgentDeviceService } from "../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { createCsr, deviceNameFromPublicKey, generateDeviceKey } from "../lib/csr.js";

let t: TestApi;
let ca: string;
const transports: Transport[] = [];
let pam: { url: string; close(): Promise<void> };
let pamDir: string;

before(async () => {
  // A PAM issuer the API trusts, limited to 2 token requests a minute per client.
  pamDir = mkdtempSync(join(tmpdir(), "fc-rl-pam-"));
  let issuer: PamIssuer | undefined;
  const server = http.createServer((req, res) => issuer!.handle(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/auth`;
  issuer = createPamIssuer({
    issuerUrl: url,
    dataDir: pamDir,
    redirectUris: ["http://127.0.0.1:7777/callback"],
    bootstrapAdmin: { username: "admin", password: "pw" },
    rateLimits: { trustedProxies: [], authPerIp: { points: 2, durationSec: 60 } },
    log: pino({ level: "silent" }),
  });
  pam = {
    url,
    close: () =>
      new Promise<void>((r) => {
        issuer!.close();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  t = await startTestApi({
    heartbeatMs: 200,
    authProviders: [oidcProvider("pam", pam.url, "flightctl-client")],
    rateLimits: {
      // Loopback (where the test calls from) is not a trusted proxy: its X-Forwarded-For must be ignored.
      trustedProxies: ["10.9.0.0/16"],
      enrollmentPerIp: { points: 3, durationSec: 60 },
      authPerIp: { points: 4, durationSec: 60 },
      perUser: { points: 5, durationSec: 60 },
      perDevice: { points: 5, durationSec: 60 },
    },
  });
  ca = readFileSync(t.api.bundlePath, "utf8");
});

after(async () => {
  await t.close();
  await pam.close();
  rmSync(pamDir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

const auth = (token: string, extra: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${token}`, ...extra } });
const user = <S extends DescService>(s: S, protocol: "grpc" | "connect" = "grpc") =>
  createClient(
    s,
    (protocol === "grpc" ? createGrpcTransport : createConnectTransport)({
      baseUrl: `https://localhost:${t.api.port}`,
      httpVersion: "2",
      nodeOptions: { ca },
    }),
  );
function agent<S extends DescService>(s: S, cred: { certPem: string; keyPem: string }, protocol: "grpc" | "connect" = "grpc") {
  const transport = (protocol === "grpc" ? createGrpcTransport : createConnectTransport)({
    baseUrl: `https://localhost:${t.api.agentPort}`,
    httpVersion: "2",
    nodeOptions: { ca, cert: cred.certPem, key: cred.keyPem },
  });
  transports.push(transport);
  return createClient(s, transport);
}

/** The error a call failed with (fails the test when it succeeds). */
async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  assert.fail("the call succeeded");
}

function assertRateLimited(e: ConnectError) {
  assert.equal(e.code, Code.ResourceExhausted, e.message);
  const [info] = e.findDetails(RetryInfoSchema);
  assert.ok(info?.retryDelay, "a google.rpc.RetryInfo detail");
  const ms = Number(info.retryDelay.seconds) * 1000 + info.retryDelay.nanos / 1e6;
  assert.ok(ms > 0 && ms <= 60_000, `retry delay ${ms} ms`);
  assert.ok(Number(e.metadata.get("retry-after")) >= 1, "Retry-After");
}

/** An agent's enrollment request (agent endpoint, enrollment certificate), approved; its management credential. */
async function enrolledDevice() {
  const root = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  const cfg = await user(EnrollmentConfigService).getEnrollmentConfig({}, auth(root));
  const a = cfg.enrollmentService!.authentication!;
  const enroll = {
    certPem: Buffer.from(a.clientCertificateData!, "base64").toString(),
    keyPem: Buffer.from(a.clientKeyData!, "base64").toString(),
  };
  const keys = await generateDeviceKey();
  const name = await deviceNameFromPublicKey(keys.publicKey);
  await agent(AgentEnrollmentService, enroll).createEnrollmentRequest({
    enrollmentRequest: { apiVersion: "v1beta1", kind: "EnrollmentRequest", metadata: { name }, spec: { csr: await createCsr(keys, name) } },
  });
  await user(EnrollmentRequestService).approveEnrollmentRequest({ name, approval: { approved: true } }, auth(root));
  const er = await agent(AgentEnrollmentService, enroll).getEnrollmentRequest({ name });
  return { name, cred: { certPem: er.status!.certificate!, keyPem: keys.keyPem } };
}

test("per device certificate: unary calls beyond the limit get ResourceExhausted + RetryInfo; 100 streams at once all open", async () => {
  const { name, cred } = await enrolledDevice(); // one enrollment request creation from this address (of 3)
  const status = () =>
    agent(AgentDeviceService, cred).replaceDeviceStatus({
      name,
      device: { apiVersion: "v1beta1", kind: "Device", metadata: { name }, status: { summary: { status: "Online" } } },
    });
  for (let i = 0; i < 5; i++) await status();
  assertRateLimited(await failure(status()));
  // A report on the status stream counts against the same limit (gRPC: below Connect; Connect: through it): the
  // stream ends with the same answer.
  for (const protocol of ["grpc", "connect"] as const) {
    const reports = (async function* () {
      yield { name, device: { status: { summary: { status: "Online" } } } };
    })();
    const streamed = failure(
      (async () => {
        for await (const _ of agent(AgentDeviceService, cred, protocol).streamDeviceStatus(reports));
      })(),
    );
    assertRateLimited(await streamed);
  }
  // Streams are the admission queue's business: the same (rate-limited) certificate opens 100 at once, over plain
  // gRPC (served below Connect) and over the Connect protocol (through the interceptors).
  const ctl = new AbortController();
  const clients = [agent(AgentDeviceService, cred), agent(AgentDeviceService, cred, "connect")];
  const firsts = await Promise.all(
    Array.from({ length: 100 }, async (_, i) => {
      const it = clients[i % 2].watchRenderedDevice({ name, knownRenderedVersion: "" }, { signal: ctl.signal })[Symbol.asyncIterator]();
      return (await it.next()).value;
    }),
  );
  ctl.abort();
  assert.equal(firsts.filter(Boolean).length, 100, "every stream got its first message");
});

test("per user: the sixth call in a minute is refused (gRPC and Connect), another user is not affected", async () => {
  const alice = await t.issuer.token("rl-alice", { roles: ["flightctl-admin"] });
  const bob = await t.issuer.token("rl-bob", { roles: ["flightctl-admin"] });
  for (let i = 0; i < 5; i++) await user(DeviceService, i % 2 ? "connect" : "grpc").listDevices({}, auth(alice));
  assertRateLimited(await failure(user(DeviceService).listDevices({}, auth(alice))));
  assertRateLimited(await failure(user(DeviceService, "connect").listDevices({}, auth(alice))));
  await user(DeviceService).listDevices({}, auth(bob));
});

test("per client IP: enrollment request creation; X-Forwarded-For from an untrusted peer changes nothing", async () => {
  const create = async (i: number) => {
    // A different user each time, so the per-user limit is not what refuses.
    const token = await t.issuer.token(`rl-installer-${i}`, { roles: ["flightctl-admin"] });
    const keys = await generateDeviceKey();
    const name = await deviceNameFromPublicKey(keys.publicKey);
    return user(EnrollmentRequestService).createEnrollmentRequest(
      {
        enrollmentRequest: {
          apiVersion: "v1beta1",
          kind: "EnrollmentRequest",
          metadata: { name },
          spec: { csr: await createCsr(keys, name) },
        },
      },
      auth(token, { "x-forwarded-for": `198.51.100.${i}` }),
    );
  };
  // The device test above created one request from this address on the agent endpoint: the count is shared.
  await create(1);
  await create(2);
  assertRateLimited(await failure(create(3)));
});

describe("behind a trusted proxy", () => {
  let behind: TestApi;
  before(async () => {
    behind = await startTestApi({ rateLimits: { trustedProxies: ["127.0.0.0/8"], enrollmentPerIp: { points: 2, durationSec: 60 } } });
  });
  after(async () => {
    await behind.close();
  });

  test("X-Forwarded-For from a trusted proxy names the client: each client has its own count", async () => {
    const token = await behind.issuer.token("rl-proxy", { roles: ["flightctl-admin"] });
    const client = createClient(
      EnrollmentRequestService,
      createGrpcTransport({ baseUrl: `https://localhost:${behind.api.port}`, nodeOptions: { ca: readFileSync(behind.api.caPath) } }),
    );
    const create = async (xff: string) => {
      const keys = await generateDeviceKey();
      const name = await deviceNameFromPublicKey(keys.publicKey);
      return client.createEnrollmentRequest(
        {
          enrollmentRequest: {
            apiVersion: "v1beta1",
            kind: "EnrollmentRequest",
            metadata: { name },
            spec: { csr: await createCsr(keys, name) },
          },
        },
        auth(token, { "x-forwarded-for": xff }),
      );
    };
    // The client wrote the left entry itself; the proxy appended the address it saw.
    await create("6.6.6.6, 198.51.100.1");
    await create("7.7.7.7, 198.51.100.1");
    assertRateLimited(await failure(create("8.8.8.8, 198.51.100.1")));
    await create("198.51.100.2");
  });
});

test("ExchangeToken: the provider's 429 becomes ResourceExhausted with RetryInfo; the API's own per-IP limit follows", async () => {
  const exchange = () =>
    user(AuthService).exchangeToken({
      providerName: "pam",
      grantType: "refresh_token",
      clientId: "flightctl-client",
      refreshToken: "junk",
    });
  for (let i = 0; i < 2; i++) assert.equal((await failure(exchange())).code, Code.Unauthenticated, "invalid_grant");
  for (let i = 0; i < 2; i++) {
    const e = await failure(exchange());
    assertRateLimited(e);
    assert.match(e.rawMessage, /token exchange refused: temporarily_unavailable/, "the issuer's limit (2 a minute)");
  }
  const own = await failure(exchange());
  assertRateLimited(own);
  assert.match(own.rawMessage, /too many requests from 127\.0\.0\.1/, "the API's limit (4 a minute) refuses before relaying");
});

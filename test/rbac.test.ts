// User endpoint authorization: every RPC of every user service × every role, with real tokens from a real (test)
// OIDC issuer verified through discovery and JWKS. Expectations are written out here from flightctl's permission
// table, independently of server/auth/rbac.ts. Also: authentication failures and organization isolation.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { startTestIssuer, type TestIssuer } from "./helpers/oidc.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { OrganizationService } from "../gen/flightctl/v1beta1/organization_service_pb.js";
import { AuthService } from "../gen/flightctl/v1beta1/auth_service_pb.js";

let t: TestApp;
let issuer: TestIssuer;

before(async () => {
  issuer = await startTestIssuer();
  t = await startTestApp({ realAuth: true, staticAuthProviders: [issuer.provider()] });
});

after(async () => {
  await t.close();
  await issuer.close();
  await assertNoOpenHandles();
});

/** Calls one RPC with a minimal request and the given token; returns the error code, or "ok". */
async function call(
  service: DescService,
  method: DescMethod,
  token: string | undefined,
  transport: Transport = t.transport,
): Promise<Code | "ok"> {
  const client = createClient(service, transport) as unknown as Record<string, (req: unknown, opts: unknown) => Promise<unknown>>;
  const req = create(method.input) as Record<string, unknown>;
  if ("name" in req) req.name = "absent-resource";
  if ("providerName" in req) req.providerName = "test-oidc";
  try {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    if (method.methodKind === "bidi_streaming") {
      // Bidi: the request is the first message of the input stream; the verdict is the first answer (or error).
      const ac = new AbortController();
      const input = (async function* () {
        yield req;
        await new Promise((r) => ac.signal.addEventListener("abort", r, { once: true }));
      })();
      const stream = (client[method.localName] as unknown as (r: unknown, o: unknown) => AsyncIterable<unknown>)(input, {
        headers,
        signal: ac.signal,
      });
      try {
        for await (const _ of stream) break;
      } finally {
        ac.abort();
      }
      return "ok";
    }
    if (method.methodKind === "server_streaming") {
      // A stream's verdict is its first message (or error); then it is cancelled.
      const ac = new AbortController();
      const stream = (client[method.localName] as unknown as (r: unknown, o: unknown) => AsyncIterable<unknown>)(req, {
        headers,
        signal: ac.signal,
      });
      for await (const _ of stream) break;
      ac.abort();
      return "ok";
    }
    await client[method.localName](req, { headers });
    return "ok";
  } catch (e) {
    return ConnectError.from(e).code;
  }
}

// GetEnrollmentConfig without csr mints a credential: it needs certificatesigningrequests create, not just get.
// PlanFleetRollout is a dry run (fleets get).
// Watch<Kinds> streams are List's reads.
const READ = /^(Get(?!EnrollmentConfig)|List|Plan|Watch)/;
const ALWAYS = new Set([
  "GetAuthConfig",
  "ExchangeToken",
  "ValidateToken",
  "GetUserInfo",
  "ListOrganizations",
  "GetOrganization",
  "GetPermissions",
]);
// SyncResourceSync (ours, not flightctl's) needs resourcesyncs update, which operators have.
// DecommissionDevice and ResumeDevices need devices update (flightctl: devices/decommission, devices/resume update).
const WRITE_KINDS =
  /^(Create|Replace|Patch|Delete)(Device|Fleet|ResourceSync|Repository)$|^SyncResourceSync$|^DecommissionDevice$|^ResumeDevices$/;
// Application start/stop/restart (flightctl: devices/applications/lifecycle and fleets/applications/lifecycle update):
// operators may, viewers may not. GetRenderedDevice (devices/rendered get) is a read.
const APP_ACTIONS = /^(Start|Stop|Restart)DeviceApplication$|^(Start|Stop)FleetApplication$/;
// check-oci-tag / check-oci-image (flightctl: repositories/check-oci-tag and repositories/check-oci-image create):
// operators may, viewers may not.
const OCI_CHECKS = /^CheckRepositoryOci(Tag|Image)$/;
// A console is a shell on the device (flightctl: devices/console, which viewers lack); its sessions and recordings
// show what was typed and printed there, so reading them needs the same right.
const CONSOLE = /^(OpenDeviceConsole|StreamDeviceConsole|SendConsoleInput|ListConsoleSessions|GetConsoleRecording)$/;

/** Whether flightctl's table lets `role` call `rpc` (written from its documentation, not from our code). */
function expected(role: string, rpc: string): boolean {
  if (ALWAYS.has(rpc)) return true;
  switch (role) {
    case "flightctl-admin":
    case "flightctl-org-admin":
      return true;
    case "flightctl-viewer":
      return READ.test(rpc) && !CONSOLE.test(rpc);
    case "flightctl-operator":
      return READ.test(rpc) || WRITE_KINDS.test(rpc) || CONSOLE.test(rpc) || APP_ACTIONS.test(rpc) || OCI_CHECKS.test(rpc);
    case "flightctl-installer":
      return [
        "GetEnrollmentRequest",
        "ListEnrollmentRequests",
        "WatchEnrollmentRequests",
        "ApproveEnrollmentRequest",
        "GetCertificateSigningRequest",
        "ListCertificateSigningRequests",
        "WatchCertificateSigningRequests",
        "CreateCertificateSigningRequest",
        "ReplaceCertificateSigningRequest",
        "GetEnrollmentConfig",
      ].includes(rpc);
    default:
      return false;
  }
}

const ROLES = ["flightctl-admin", "flightctl-org-admin", "flightctl-operator", "flightctl-viewer", "flightctl-installer", "none"];

describe("role × RPC matrix (user endpoint)", () => {
  for (const role of ROLES) {
    test(role, async () => {
      const token = await issuer.token(`u-${role}`, { roles: role === "none" ? [] : [role], organizations: ["default"] });
      const wrong: string[] = [];
      let rpcs = 0;
      for (const service of t.app.services) {
        for (const method of service.methods) {
          rpcs++;
          const code = await call(service, method, token);
          const allowed = expected(role, method.name);
          if (code === Code.Internal || code === Code.Unauthenticated) wrong.push(`${method.name}: ${Code[code]}`);
          else if (allowed && code === Code.PermissionDenied) wrong.push(`${method.name}: denied, expected allowed`);
          else if (!allowed && code !== Code.PermissionDenied)
            wrong.push(`${method.name}: ${code === "ok" ? "ok" : Code[code]}, expected PermissionDenied`);
        }
      }
      assert.ok(rpcs > 60, `only ${rpcs} RPCs found`);
      assert.deepEqual(wrong, []);
    });
  }

  test("without a token only public RPCs answer; the rest are Unauthenticated", async () => {
    const wrong: string[] = [];
    for (const service of t.app.services) {
      for (const method of service.methods) {
        const code = await call(service, method, undefined);
        const isPublic = method.name === "GetAuthConfig" || method.name === "ExchangeToken";
        if (isPublic ? code === Code.Unauthenticated || code === Code.Internal : code !== Code.Unauthenticated) {
          wrong.push(`${method.name}: ${code === "ok" ? "ok" : Code[code]}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  });
});

describe("authentication", () => {
  const list = DeviceService.method.listDevices;
  test("expired, wrong-audience, foreign-issuer and malformed tokens are refused", async () => {
    const expired = await issuer.token("alice", { roles: ["flightctl-admin"] }, { expiresIn: -120 });
    const audience = await issuer.token("alice", { roles: ["flightctl-admin"] }, { audience: "someone-else" });
    const foreign = await startTestIssuer();
    try {
      const stranger = await foreign.token("alice", { roles: ["flightctl-admin"] });
      for (const [what, token] of [
        ["expired", expired],
        ["audience", audience],
        ["foreign issuer", stranger],
        ["garbage", "not.a.jwt"],
      ]) {
        assert.equal(await call(DeviceService, list, token), Code.Unauthenticated, what);
      }
      // A token signed by another key but claiming our issuer fails signature verification.
      const forged = (await foreign.token("alice", { roles: ["flightctl-admin"] })).split(".");
      const ours = (await issuer.token("alice", { roles: ["flightctl-admin"] })).split(".");
      assert.equal(await call(DeviceService, list, `${ours[0]}.${ours[1]}.${forged[2]}`), Code.Unauthenticated);
    } finally {
      await foreign.close();
    }
  });

  test("the error names what is wrong", async () => {
    const client = createClient(DeviceService, t.transport);
    await assert.rejects(
      client.listDevices({}),
      (e: ConnectError) => e.code === Code.Unauthenticated && /Authorization: Bearer/.test(e.rawMessage),
    );
    const token = await issuer.token("bob", { roles: ["flightctl-viewer"], organizations: ["default"] });
    await assert.rejects(
      client.createDevice(
        { device: { apiVersion: "v1beta1", kind: "Device", metadata: { name: "d1" } } },
        { headers: { authorization: `Bearer ${token}` } },
      ),
      (e: ConnectError) => e.code === Code.PermissionDenied && /bob may not create devices/.test(e.rawMessage),
    );
  });
});

describe("organizations", () => {
  const headers = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

  test("resources are isolated per organization and membership is checked", async () => {
    const devices = createClient(DeviceService, t.transport);
    const orgs = createClient(OrganizationService, t.transport);
    const alice = await issuer.token("alice", { roles: ["flightctl-org-admin"], organizations: ["acme"] });
    const bob = await issuer.token("bob", { roles: ["flightctl-org-admin"], organizations: ["globex"] });
    const root = await issuer.token("root", { roles: ["flightctl-admin"] });

    // Organizations come into being from the token's claims; each user sees only their own.
    const aliceOrgs = await orgs.listOrganizations({}, headers(alice));
    assert.deepEqual(
      aliceOrgs.items.map((o) => o.spec?.externalId),
      ["acme"],
    );
    const acme = aliceOrgs.items[0].metadata!.name!;
    const globex = (await orgs.listOrganizations({}, headers(bob))).items[0].metadata!.name!;
    assert.notEqual(acme, globex);

    await devices.createDevice(
      { device: { apiVersion: "v1beta1", kind: "Device", metadata: { name: "shared-name" }, spec: {} } },
      headers(alice),
    );
    await devices.createDevice(
      { device: { apiVersion: "v1beta1", kind: "Device", metadata: { name: "shared-name", labels: { owner: "bob" } }, spec: {} } },
      headers(bob),
    );
    assert.equal((await devices.getDevice({ name: "shared-name" }, headers(bob))).metadata?.labels.owner, "bob");
    assert.equal((await devices.getDevice({ name: "shared-name" }, headers(alice))).metadata?.labels.owner, undefined);

    // Addressing another organization explicitly is refused; the super admin may address any.
    await assert.rejects(
      devices.listDevices({ orgId: globex }, headers(alice)),
      (e: ConnectError) => e.code === Code.PermissionDenied && /not a member/.test(e.rawMessage),
    );
    assert.equal((await devices.listDevices({ orgId: globex }, headers(root))).items.length, 1);
    await assert.rejects(orgs.getOrganization({ name: globex }, headers(alice)), (e: ConnectError) => e.code === Code.NotFound);
    const all = (await orgs.listOrganizations({}, headers(root))).items.map((o) => o.spec?.externalId).sort();
    assert.deepEqual(all, ["acme", "default", "globex"]);
  });

  test("org-scoped roles hold only in their organization; several organizations need an explicit org_id", async () => {
    const devices = createClient(DeviceService, t.transport);
    const auth = createClient(AuthService, t.transport);
    const carol = await issuer.token("carol", {
      roles: ["acme:flightctl-operator", "globex:flightctl-viewer"],
      organizations: ["acme", "globex"],
    });
    await assert.rejects(
      devices.listDevices({}, headers(carol)),
      (e: ConnectError) => e.code === Code.InvalidArgument && /orgId: is required/.test(e.rawMessage),
    );
    const orgs = (await auth.getUserInfo({}, headers(carol))).organizations;
    const id = (name: string) => orgs.find((o) => o.spec?.externalId === name)!.metadata!.name!;
    await devices.createDevice(
      { orgId: id("acme"), device: { apiVersion: "v1beta1", kind: "Device", metadata: { name: "c1" }, spec: {} } },
      headers(carol),
    );
    await assert.rejects(
      devices.createDevice(
        { orgId: id("globex"), device: { apiVersion: "v1beta1", kind: "Device", metadata: { name: "c1" }, spec: {} } },
        headers(carol),
      ),
      (e: ConnectError) => e.code === Code.PermissionDenied,
    );
    const perms = await auth.getPermissions({ orgId: id("globex") }, headers(carol));
    assert.deepEqual(perms.permissions.find((p) => p.resource === "*")?.operations, ["get", "list"]);
    assert.equal(
      perms.permissions.find((p) => p.resource === "devices"),
      undefined,
    );
    // "flightctl-admin" scoped to an organization is ignored: super admin is global only.
    const sneaky = await issuer.token("mallory", { roles: ["acme:flightctl-admin"], organizations: ["acme"] });
    await assert.rejects(
      devices.listDevices({ orgId: id("acme") }, headers(sneaky)),
      (e: ConnectError) => e.code === Code.PermissionDenied,
    );
  });
});

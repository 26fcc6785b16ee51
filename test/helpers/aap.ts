// An AAP-shaped HTTPS server (AAP itself cannot run here): the gateway's /me, organizations, user organizations and
// teams, and the controller's role assignment lists, answering paginated lists shaped as flightctl's pkg/aap reads
// them ({count, next, previous, results}), `next` as an absolute URL. Known tokens map to users; any other token is
// refused with 401 as AAP refuses an expired one. Its certificate comes from a CA of its own (`caPem`).
import https from "node:https";
import type { AddressInfo } from "node:net";
import { createCa, issueServerCert } from "../../server/platform/pki/ca.js";
import type { AapUser } from "../../server/auth/aap-gateway.js";

/** A user as /me lists it (the fields flightctl reads), with what the other endpoints answer for it. */
export interface AapTestUser extends Omit<AapUser, "summary_fields"> {
  ansibleId: string;
  organizations: string[];
  /** Teams: name, its organization, its ansible id. */
  teams?: { name: string; organization: string; ansibleId: string }[];
  /** Roles given to the user directly: role definition name → organization. */
  roles?: { role: string; organization: string; contentType?: string }[];
}

export interface AapTestServer {
  url: string;
  caPem: string;
  /** Requests received, by path. */
  hits: string[];
  /** Role assignments of teams by team ansible id. */
  teamRoles: Map<string, { role: string; organization: string }[]>;
  /** Answer every request with this status (500, 503...) until cleared. */
  failWith?: number;
  close(): Promise<void>;
}

export async function startAapServer(tokens: Record<string, AapTestUser>, allOrganizations: string[]): Promise<AapTestServer> {
  const ca = await createCa("aap-test-ca");
  const cert = await issueServerCert(ca, ["localhost", "127.0.0.1"]);
  const teamRoles = new Map<string, { role: string; organization: string }[]>();
  const hits: string[] = [];
  let base = "";
  /** A paginated list, two items per page so `next` is exercised. */
  const page = (u: URL, items: unknown[]) => {
    const n = Number(u.searchParams.get("page") ?? "1");
    const next = new URL(u.toString(), base);
    next.searchParams.set("page", String(n + 1));
    return {
      count: items.length,
      next: n * 2 < items.length ? next.toString() : null,
      previous: n > 1 ? "prev" : null,
      results: items.slice((n - 1) * 2, n * 2),
    };
  };
  const orgObj = (name: string, i: number) => ({ id: i + 1, name, description: "" });
  const assignment = (r: { role: string; organization: string; contentType?: string }, i: number) => ({
    id: i + 1,
    content_type: r.contentType ?? "shared.organization",
    object_id: String(i + 1),
    role_definition: i + 10,
    summary_fields: {
      role_definition: { id: i + 10, name: r.role, description: "", managed: false },
      content_object: { id: i + 1, name: r.organization, description: "" },
    },
  });
  const server = https.createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    const u = new URL(req.url ?? "/", base);
    hits.push(u.pathname);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (t.failWith) return send(t.failWith, { detail: "unavailable" });
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
    const user = tokens[token];
    if (!user) return send(401, { detail: "Authentication credentials were not provided." });
    const p = u.pathname;
    if (p === "/api/gateway/v1/me/") {
      const { ansibleId, organizations: _o, teams: _t, roles: _r, ...fields } = user;
      return send(200, page(u, [{ ...fields, summary_fields: { resource: { ansible_id: ansibleId, resource_type: "shared.user" } } }]));
    }
    if (p === "/api/gateway/v1/organizations") return send(200, page(u, allOrganizations.map(orgObj)));
    if (p === `/api/gateway/v1/users/${user.id}/organizations`) return send(200, page(u, user.organizations.map(orgObj)));
    if (p === `/api/gateway/v1/users/${user.id}/teams`)
      return send(
        200,
        page(
          u,
          (user.teams ?? []).map((tm, i) => ({
            id: i + 1,
            name: tm.name,
            summary_fields: {
              organization: { id: 1, name: tm.organization },
              resource: { ansible_id: tm.ansibleId, resource_type: "shared.team" },
            },
          })),
        ),
      );
    if (p === "/api/controller/v2/role_user_assignments/") {
      if (u.searchParams.get("user__resource__ansible_id") !== user.ansibleId) return send(200, page(u, []));
      return send(200, page(u, (user.roles ?? []).map(assignment)));
    }
    if (p === "/api/controller/v2/role_team_assignments/")
      return send(200, page(u, (teamRoles.get(u.searchParams.get("team__resource__ansible_id") ?? "") ?? []).map(assignment)));
    send(404, { detail: "Not found." });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const t: AapTestServer = {
    url: base,
    caPem: ca.certPem,
    hits,
    teamRoles,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  return t;
}

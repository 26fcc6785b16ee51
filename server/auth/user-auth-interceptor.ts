// The user endpoint's gate: every RPC declares its access in the contract (flightctl.v1beta1.access); this
// interceptor authenticates the bearer token, resolves the organization the request acts in (membership checked)
// and applies RBAC before any handler runs. RPCs without the option are refused (fail closed).
import { getOption, hasOption } from "@bufbuild/protobuf";
import { perMethod } from "../platform/method-options.js";
import type { Interceptor } from "@connectrpc/connect";
import { access } from "../../gen/flightctl/v1beta1/access_pb.js";
import type { Membership } from "../organizations/membership.js";
import { allowed } from "./rbac.js";
import { DomainError, forbidden, toConnectError } from "../platform/errors.js";
import { anonymous, callerKey, identityKey, type Role, type UserIdentity } from "../platform/identity.js";

/** Who sent a request: the user behind its Authorization header (Unauthenticated otherwise). */
export type Authenticate = (authorization: string | null) => Promise<UserIdentity>;

/** Roles that hold for `user` in the organization with external id `externalId`. */
export function rolesIn(user: UserIdentity, externalId: string): Role[] {
  return [...new Set([...user.roles, ...(user.orgRoles[externalId] ?? [])])];
}

type InterceptedRequest = Parameters<Parameters<Interceptor>[0]>[0];

/**
 * The single request message of a server-streaming call (undefined for client/bidi streams), read ahead so its org_id
 * can be resolved before the handler runs; the handler still receives it.
 */
async function takeServerStreamRequest(req: InterceptedRequest & { stream: true }): Promise<unknown> {
  if (req.method.methodKind !== "server_streaming") return undefined;
  const it = req.message[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return undefined;
  (req as { message: AsyncIterable<unknown> }).message = (async function* () {
    yield first.value;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  })();
  return first.value;
}

/** A method's access rule, or undefined when it declares none (read once per method). */
const accessOf = perMethod((m) => (hasOption(m, access) ? getOption(m, access) : undefined));

export function userAuthInterceptor(authenticate: Authenticate, membership: Membership): Interceptor {
  async function gate(req: InterceptedRequest): Promise<void> {
    // Standard gRPC infrastructure (health, reflection) is public, as load balancers and tools expect.
    if (req.service.typeName.startsWith("grpc.")) return;
    const rule = accessOf(req.method);
    if (!rule) throw forbidden(`${req.method.parent.typeName}/${req.method.name} declares no access rule`);
    if (rule.public) {
      req.contextValues.set(identityKey, anonymous);
      return;
    }
    const user = await authenticate(req.header.get("authorization"));
    req.contextValues.set(identityKey, user);
    if (rule.global) return;
    // Every organization-scoped request message carries org_id (a server stream's one request message too).
    const message = (req.stream ? await takeServerStreamRequest(req) : req.message) as { orgId?: string } | undefined;
    const { orgId, externalId } = await membership.resolve(user, message?.orgId);
    if (rule.resource && !allowed(rolesIn(user, externalId), rule.resource, rule.verb)) {
      throw forbidden(`${user.username} may not ${rule.verb} ${rule.resource} in organization ${externalId}`);
    }
    req.contextValues.set(callerKey, { orgId, identity: user, externalId });
  }
  return (next) => async (req) => {
    try {
      await gate(req);
    } catch (e) {
      throw e instanceof DomainError ? toConnectError(e) : e;
    }
    return next(req);
  };
}

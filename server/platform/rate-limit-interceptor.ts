// RPC rate limits: per client IP before authentication, on the RPCs anyone can reach with no (or a shared)
// credential (enrollment); per identity after it (the user, or the device's management certificate). A refused call
// gets ResourceExhausted with a google.rpc.RetryInfo detail (errors.ts). Opening a stream is never counted here: the
// agent streams' admission is the endpoint's queue (admission.ts), and 10,000 agents reconnecting at once must all get
// in; the status reports a stream carries are counted one by one (takeIdentity, devices/agent-device-rpc.ts).
import type { DescMethod } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { clientIp, clientIpKey, remoteAddressKey, type TrustedProxies } from "./client-ip.js";
import { rateLimited, toConnectError } from "./errors.js";
import { identityKey, type Identity } from "./identity.js";
import { peerFingerprint, peerKey, type Peer } from "./peer.js";
import type { Limiter } from "./rate-limit.js";

/** Sets clientIpKey for the interceptors and handlers after it: the peer, or the client a trusted proxy names. */
export function clientIpInterceptor(trusted: TrustedProxies): Interceptor {
  return (next) => async (req) => {
    const ip = clientIp(req.contextValues.get(remoteAddressKey), (h) => req.header.get(h), trusted);
    if (ip !== undefined) req.contextValues.set(clientIpKey, ip);
    return next(req);
  };
}

/** Counts unary calls of the methods `applies` selects per client IP (in-process calls, with no peer, are not counted). */
export function ipLimitInterceptor(limiter: Limiter, applies: (m: DescMethod) => boolean): Interceptor {
  return (next) => async (req) => {
    if (req.stream || !applies(req.method)) return next(req);
    const ip = req.contextValues.get(clientIpKey);
    if (ip !== undefined) {
      const wait = await limiter.take(ip);
      if (wait !== undefined) throw toConnectError(rateLimited(`too many requests from ${ip}; retry later`, wait));
    }
    return next(req);
  };
}

/**
 * Who a call counts against: a user by issuer and subject, a device by its certificate's fingerprint. Enrollment
 * (one certificate shared by a whole site's devices) and anonymous calls have no identity of their own here.
 */
function identityOf(identity: Identity, peer: Peer): string | undefined {
  if (identity.kind === "user") return `user:${identity.issuer}:${identity.uid}`;
  if (identity.kind === "device") {
    const f = peerFingerprint(peer);
    return f && `cert:${f}`;
  }
  return undefined;
}

/** Counts one call (or one message of a stream that carries calls' work: status reports) of `identity` against `limiter`. */
export async function takeIdentity(limiter: Limiter, identity: Identity, peer: Peer): Promise<void> {
  const key = identityOf(identity, peer);
  if (key === undefined) return;
  const wait = await limiter.take(key);
  if (wait !== undefined) throw toConnectError(rateLimited("too many requests for this identity; retry later", wait));
}

/** Counts unary calls per authenticated identity; install after the auth interceptor. */
export function identityLimitInterceptor(limiter: Limiter): Interceptor {
  return (next) => async (req) => {
    if (req.stream) return next(req);
    await takeIdentity(limiter, req.contextValues.get(identityKey), req.contextValues.get(peerKey));
    return next(req);
  };
}

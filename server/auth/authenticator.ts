// Bearer-token authentication against the configured providers: static ones from the service config and enabled
// AuthProvider resources. OIDC tokens are verified
// with jose against the issuer's JWKS (discovery), OAuth2 tokens by JWT introspection or RFC 7662, AAP tokens by
// asking the AAP gateway (aap-gateway.ts). Identities are cached per token briefly (at most a minute for opaque tokens).
import { createRemoteJWKSet, customFetch, decodeJwt, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from "jose";
import type { AuthProvider, AuthProviderSpec } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { unauthenticated, unavailable } from "../platform/errors.js";
import type { UserIdentity } from "../platform/identity.js";
import { Lru } from "../platform/lru.js";
import { identityFromClaims } from "./claims.js";
import { AapTokenRejected, aapIdentity, createAapClient } from "./aap-gateway.js";
import { getJson, type FetchLike } from "./http-client.js";
import { asymmetricOnly, checkTokenTimes, DEFAULT_TOKEN_POLICY, REQUIRED_CLAIMS, type TokenPolicy } from "./token-policy.js";

export interface AuthenticatorOptions {
  /** The enabled providers (see createProviderSource). */
  providers(): Promise<AuthProvider[]>;
  fetch: FetchLike;
  /** Expiry, lifetime, clock skew and algorithms every JWT must satisfy (default DEFAULT_TOKEN_POLICY). */
  policy?: TokenPolicy;
}

/**
 * The enabled providers: static ones from the service configuration first, then AuthProvider resources, re-read at
 * most every `reloadMs` (default 5 s, flightctl's cache TTL) so new providers need no restart.
 */
export function createProviderSource(staticProviders: AuthProvider[], loadDynamic: () => Promise<AuthProvider[]>, reloadMs = 5000) {
  let dynamic: { at: number; list: AuthProvider[] } | undefined;
  return async (): Promise<AuthProvider[]> => {
    if (!dynamic || Date.now() - dynamic.at > reloadMs) dynamic = { at: Date.now(), list: await loadDynamic() };
    return [...staticProviders, ...dynamic.list].filter((p) => p.spec?.enabled !== false);
  };
}

export interface Authenticator {
  /** The user behind an Authorization header; Unauthenticated with the reason otherwise. */
  authenticate(authorization: string | null): Promise<UserIdentity>;
  /** The token endpoint of a provider, for token exchange. */
  tokenEndpoint(providerName: string): Promise<{ url: string; provider: AuthProvider }>;
}

interface Verifier {
  /** Issuers this verifier accepts (for routing a JWT by its iss). */
  issuer?: string;
  verify(token: string): Promise<JWTPayload>;
  /** Providers that say who the user is themselves (aap) instead of handing claims to identityFromClaims. */
  identify?(token: string): Promise<UserIdentity>;
}

const isJwt = (t: string) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(t);

export function createAuthenticator(opts: AuthenticatorOptions): Authenticator {
  const policy = opts.policy ?? DEFAULT_TOKEN_POLICY;
  const algorithms = asymmetricOnly(policy.algorithms);
  /** jwtVerify's options shared by every JWT provider: exp required, skew, public-key algorithms only. */
  const common = { requiredClaims: REQUIRED_CLAIMS, clockTolerance: policy.clockSkewSec };
  const verifyJwt = async (token: string, keys: JWTVerifyGetKey, o: JWTVerifyOptions) => {
    const { payload } = await jwtVerify(token, keys, { ...common, ...o });
    checkTokenTimes(payload, policy);
    return payload;
  };
  const verifiers = new Map<string, Verifier>();
  const discovery = new Map<string, Promise<Record<string, unknown>>>();
  const cache = new Lru<string, { identity: UserIdentity; exp: number }>(10_000);

  const providers = opts.providers;

  function discover(issuer: string): Promise<Record<string, unknown>> {
    let d = discovery.get(issuer);
    if (!d) {
      d = getJson(opts.fetch, `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`).then((doc) => {
        if (doc.issuer !== issuer) throw new Error(`discovery document of ${issuer} names issuer ${String(doc.issuer)}`);
        return doc;
      });
      // A failed discovery is retried on the next request rather than cached.
      d.catch(() => discovery.delete(issuer));
      discovery.set(issuer, d);
    }
    return d;
  }

  function remoteKeys(url: string): JWTVerifyGetKey {
    return createRemoteJWKSet(new URL(url), { [customFetch]: opts.fetch as never, cooldownDuration: 30_000 });
  }

  function verifierFor(p: AuthProvider): Verifier | undefined {
    const spec = p.spec as AuthProviderSpec;
    const key = JSON.stringify([p.metadata?.name, spec.providerType, spec.issuer, spec.clientId, spec.introspection, spec.apiUrl]);
    let v = verifiers.get(key);
    if (v) return v;
    if (spec.providerType === "oidc" && spec.issuer) {
      const issuer = spec.issuer;
      let keys: JWTVerifyGetKey | undefined;
      v = {
        issuer,
        async verify(token) {
          const doc = await discover(issuer);
          keys ??= remoteKeys(String(doc.jwks_uri));
          // Pinned to what the provider says it signs with (within the public-key algorithms allowed here).
          const advertised = Array.isArray(doc.id_token_signing_alg_values_supported)
            ? algorithms.filter((a) => (doc.id_token_signing_alg_values_supported as unknown[]).includes(a))
            : [];
          return verifyJwt(token, keys, { issuer, audience: spec.clientId, algorithms: advertised.length ? advertised : algorithms });
        },
      };
    } else if (spec.providerType === "oauth2" && spec.introspection?.type === "jwt" && spec.introspection.jwksUrl) {
      const i = spec.introspection;
      const keys = remoteKeys(i.jwksUrl!);
      v = {
        issuer: i.issuer ?? spec.issuer,
        async verify(token) {
          const audience = i.audience.length > 0 ? i.audience : undefined;
          return verifyJwt(token, keys, { issuer: i.issuer ?? spec.issuer, audience, algorithms });
        },
      };
    } else if (spec.providerType === "oauth2" && spec.introspection?.type === "rfc7662" && spec.introspection.url) {
      const url = spec.introspection.url;
      v = {
        async verify(token) {
          const basic = Buffer.from(`${encodeURIComponent(spec.clientId ?? "")}:${encodeURIComponent(spec.clientSecret ?? "")}`).toString(
            "base64",
          );
          const res = await opts.fetch(url, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${basic}`, accept: "application/json" },
            body: new URLSearchParams({ token }).toString(),
          });
          const body = (await res.json()) as JWTPayload & { active?: boolean };
          if (res.status !== 200 || body.active !== true) throw new Error("the token is not active");
          return body;
        },
      };
    } else if (spec.providerType === "aap" && spec.apiUrl) {
      const client = createAapClient(opts.fetch, spec.apiUrl);
      v = {
        verify: () => Promise.reject(new Error("aap tokens are identified, not verified")),
        identify: (token) => aapIdentity(client, spec, token),
      };
    } else {
      return undefined;
    }
    verifiers.set(key, v);
    return v;
  }

  async function verifyWith(p: AuthProvider, v: Verifier, token: string): Promise<UserIdentity> {
    if (v.identify) {
      try {
        return await v.identify(token);
      } catch (e) {
        if (e instanceof AapTokenRejected) throw unauthenticated(`invalid token: ${e.message}`);
        throw unavailable(`cannot verify the token with provider "${p.metadata?.name}": ${(e as Error).message}`);
      }
    }
    let claims: JWTPayload;
    try {
      claims = await v.verify(token);
    } catch (e) {
      const code = (e as { code?: string }).code ?? "";
      if (code.startsWith("ERR_J") || (e as Error).message === "the token is not active") {
        throw unauthenticated(`invalid token: ${(e as Error).message}`);
      }
      throw unavailable(`cannot verify the token with provider "${p.metadata?.name}": ${(e as Error).message}`);
    }
    try {
      return identityFromClaims(p.spec as AuthProviderSpec, claims);
    } catch (e) {
      throw unauthenticated(`invalid token: ${(e as Error).message}`);
    }
  }

  return {
    async authenticate(authorization) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
      if (!m)
        throw unauthenticated(
          authorization
            ? 'the Authorization header must be "Bearer <token>"'
            : 'authentication required: send "Authorization: Bearer <token>"',
        );
      const token = m[1];
      const hit = cache.get(token);
      if (hit && hit.exp > Date.now()) return hit.identity;
      const all = await providers();
      let identity: UserIdentity | undefined;
      let exp = Date.now() + 60_000;
      if (isJwt(token)) {
        let iss: string | undefined;
        try {
          const payload = decodeJwt(token);
          iss = payload.iss;
          if (payload.exp) exp = Math.min(payload.exp * 1000, Date.now() + 5 * 60_000);
        } catch {
          throw unauthenticated("invalid token: not a decodable JWT");
        }
        const match = all.map((p) => [p, verifierFor(p)] as const).find(([, v]) => v?.issuer !== undefined && v.issuer === iss);
        if (!match) throw unauthenticated(`invalid token: issuer "${iss ?? ""}" is not a configured authentication provider`);
        identity = await verifyWith(match[0], match[1]!, token);
      } else {
        const opaque = all.map((p) => [p, verifierFor(p)] as const).filter(([, v]) => v && v.issuer === undefined);
        if (opaque.length === 0) throw unauthenticated("invalid token: not a JWT and no provider introspects opaque tokens");
        let lastError: unknown;
        for (const [p, v] of opaque) {
          try {
            identity = await verifyWith(p, v!, token);
            break;
          } catch (e) {
            lastError = e;
          }
        }
        if (!identity) throw lastError;
      }
      cache.set(token, { identity, exp });
      return identity;
    },

    async tokenEndpoint(providerName) {
      const p = (await providers()).find((x) => x.metadata?.name === providerName);
      if (!p) throw unauthenticated(`no enabled authentication provider named "${providerName}"`);
      const spec = p.spec as AuthProviderSpec;
      if (spec.tokenUrl) return { url: spec.tokenUrl, provider: p };
      if (spec.providerType === "oidc" && spec.issuer) {
        try {
          return { url: String((await discover(spec.issuer)).token_endpoint), provider: p };
        } catch (e) {
          throw unavailable(`cannot reach provider "${providerName}": ${(e as Error).message}`);
        }
      }
      throw unauthenticated(`provider "${providerName}" has no token endpoint`);
    },
  };
}

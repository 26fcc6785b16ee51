// AuthService: login configuration, token validation and exchange, and what the caller is and may do.
import { create, fromJson } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { AuthProviderSchema, type AuthProviderSpec } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { AuthConfigSchema } from "../../gen/flightctl/v1beta1/authconfig_pb.js";
import {
  AuthService,
  PermissionListSchema,
  TokenResponseSchema,
  UserInfoResponseSchema,
} from "../../gen/flightctl/v1beta1/auth_service_pb.js";
import { toJson } from "@bufbuild/protobuf";
import { invalid, rateLimited, unauthenticated, unavailable } from "../platform/errors.js";
import { clientIpKey } from "../platform/client-ip.js";
import { callerOf, identityKey, type UserIdentity } from "../platform/identity.js";
import { API_VERSION } from "../platform/resource/resource-service.js";
import { maskSecrets } from "../platform/sensitive.js";
import { rolesIn } from "./user-auth-interceptor.js";
import type { ServiceDeps } from "../app-deps.js";
import { permissionsOf } from "./rbac.js";
import { AUTH_PROVIDER_SECRETS } from "../authproviders/authprovider-service.js";
import { getJson, type FetchLike } from "./http-client.js";
import { quote } from "../../lib/quote.js";

/** An issuer's authorization endpoint from its discovery document, cached 5 minutes; undefined when unreachable. */
function authorizationEndpoints(fetch: FetchLike) {
  const cache = new Map<string, { at: number; url?: string }>();
  return async (issuer: string): Promise<string | undefined> => {
    const hit = cache.get(issuer);
    if (hit && Date.now() - hit.at < 300_000) return hit.url;
    const url = await getJson(fetch, `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`).then(
      (doc) => (typeof doc.authorization_endpoint === "string" ? doc.authorization_endpoint : undefined),
      () => undefined,
    );
    // A failure is not cached: the next GetAuthConfig tries again.
    if (url) cache.set(issuer, { at: Date.now(), url });
    return url;
  };
}

export const authServiceRegistration = {
  service: AuthService,
  register(router: ConnectRouter, deps: ServiceDeps) {
    const { authenticator } = deps;
    const orgs = (user: UserIdentity) => deps.membership.orgsOf(user);
    const authorizeAt = authorizationEndpoints(deps.fetch);
    router.service(AuthService, {
      async getAuthConfig() {
        const providers = (await deps.providers()).map((p) =>
          fromJson(AuthProviderSchema, maskSecrets(toJson(AuthProviderSchema, p), AUTH_PROVIDER_SECRETS), {
            ignoreUnknownFields: true,
          }),
        );
        // Browsers start the authorization-code flow from this answer; an OIDC provider's endpoint is in its
        // discovery document, which a browser may not read cross-origin.
        await Promise.all(
          providers.map(async (p) => {
            if (p.spec?.providerType === "oidc" && p.spec.issuer && !p.spec.authorizationUrl) {
              const url = await authorizeAt(p.spec.issuer);
              if (url) p.spec.authorizationUrl = url;
            }
          }),
        );
        return create(AuthConfigSchema, {
          apiVersion: API_VERSION,
          providers,
          ...(providers[0]?.metadata?.name ? { defaultProvider: providers[0].metadata.name } : {}),
          organizationsEnabled: true,
        });
      },

      validateToken: () => ({}),

      getPermissions(_req, ctx) {
        const caller = callerOf(ctx);
        const user = caller.identity as UserIdentity;
        return create(PermissionListSchema, { permissions: permissionsOf(rolesIn(user, caller.externalId ?? "")) });
      },

      async getUserInfo(_req, ctx) {
        const user = ctx.values.get(identityKey) as UserIdentity;
        const mine = await orgs(user);
        return create(UserInfoResponseSchema, {
          sub: user.uid,
          preferredUsername: user.username,
          ...(user.displayName ? { name: user.displayName } : {}),
          roles: user.rawRoles,
          organizations: [...mine].map(([id, externalId]) => ({
            apiVersion: API_VERSION,
            kind: "Organization",
            metadata: { name: id },
            spec: { displayName: externalId, externalId },
          })),
        });
      },

      async exchangeToken(req, ctx) {
        if (!["authorization_code", "refresh_token"].includes(req.grantType)) {
          throw invalid({ field: "grant_type", message: `must be "authorization_code" or "refresh_token", got ${quote(req.grantType)}` });
        }
        if (!req.clientId) throw invalid({ field: "client_id", message: "is required" });
        const { url, provider } = await authenticator.tokenEndpoint(req.providerName);
        const spec = provider.spec as AuthProviderSpec;
        const form = new URLSearchParams({ grant_type: req.grantType, client_id: req.clientId });
        for (const [k, v] of [
          ["code", req.code],
          ["code_verifier", req.codeVerifier],
          ["redirect_uri", req.redirectUri],
          ["refresh_token", req.refreshToken],
          ["scope", req.scope],
        ] as const) {
          if (v) form.set(k, v);
        }
        if (spec.clientSecret && spec.clientId === req.clientId) form.set("client_secret", spec.clientSecret);
        let res: Response;
        try {
          // The user's address, so the provider's per-IP limits count users, not this server (it trusts us as a proxy).
          const ip = ctx.values.get(clientIpKey);
          res = await deps.fetch(url, {
            method: "POST",
            headers: {
              "content-type": "application/x-www-form-urlencoded",
              accept: "application/json",
              ...(ip ? { "x-forwarded-for": ip } : {}),
            },
            body: form.toString(),
          });
        } catch (e) {
          throw unavailable(`cannot reach the token endpoint of "${req.providerName}": ${(e as Error).message}`);
        }
        const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
        if (res.status !== 200 || body.error) {
          const why = `${String(body.error ?? `HTTP ${res.status}`)}${body.error_description ? `: ${String(body.error_description)}` : ""}`;
          if (res.status === 429)
            throw rateLimited(`token exchange refused: ${why}`, 1000 * Number(res.headers.get("retry-after") ?? 1) || 1000);
          throw body.error === "invalid_grant" || res.status === 401
            ? unauthenticated(`token exchange refused: ${why}`)
            : invalid({ field: "grant_type", message: `token exchange refused: ${why}` });
        }
        return create(TokenResponseSchema, {
          accessToken: String(body.access_token ?? ""),
          tokenType: String(body.token_type ?? "Bearer"),
          ...(body.id_token ? { idToken: String(body.id_token) } : {}),
          ...(body.refresh_token ? { refreshToken: String(body.refresh_token) } : {}),
          ...(typeof body.expires_in === "number" ? { expiresIn: body.expires_in } : {}),
        });
      },
    });
  },
};

// An AuthProvider for an OIDC issuer that puts roles in "roles" and organization names in "organizations" (the
// built-in PAM issuer's claims, and the test issuer's).
import { create } from "@bufbuild/protobuf";
import { AuthProviderSchema, type AuthProvider } from "../../gen/flightctl/v1beta1/authprovider_pb.js";

export function oidcProvider(name: string, issuer: string, clientId: string, displayName?: string): AuthProvider {
  return create(AuthProviderSchema, {
    apiVersion: "flightctl.io/v1beta1",
    kind: "AuthProvider",
    metadata: { name },
    spec: {
      providerType: "oidc",
      ...(displayName ? { displayName } : {}),
      issuer,
      clientId,
      enabled: true,
      scopes: ["openid", "profile", "roles", "offline_access"],
      usernameClaim: ["preferred_username"],
      organizationAssignment: { type: "dynamic", claimPath: ["organizations"] },
      roleAssignment: { type: "dynamic", claimPath: ["roles"] },
    },
  });
}

// flightctl login: trust the server (its CA), pick an auth provider, get tokens (browser with PKCE, password,
// or a given token) and store them in the client configuration; later commands refresh them as needed.
import { readFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { defineCommand } from "citty";
import { createClient } from "@connectrpc/connect";
import type { AuthProvider } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { globalArgs, readConfig, writeConfig, type ClientConfig } from "../config.js";
import { UsageError } from "../errors.js";
import { awaitCode, discover, passwordGrant, pkce, type Tokens } from "../oauth.js";
import { table } from "../output.js";
import { jwtExpiry, makeTransport, session } from "../transport.js";

export default defineCommand({
  meta: {
    name: "login",
    description: [
      "Log in to a Flight Control service and remember it in the client configuration.",
      "",
      "  flightctl login https://localhost:3443 --certificate-authority .data/certs/ca.crt            # browser (authorization code + PKCE)",
      "  flightctl login https://localhost:3443 --certificate-authority .data/certs/ca.crt --no-browser   # print the URL to open elsewhere",
      '  flightctl login https://localhost:3443 --certificate-authority .data/certs/ca.crt -u admin -p "$(cat .data/admin-password)"',
      '  flightctl login https://flightctl.example.com --token "$TOKEN"',
      "  flightctl login https://localhost:3443 -k --show-providers",
      "",
      "Environment: FLIGHTCTL_TOKEN, FLIGHTCTL_USERNAME, FLIGHTCTL_PASSWORD (flags win).",
    ].join("\n"),
  },
  args: {
    ...globalArgs,
    url: { type: "positional", required: false, description: "Server URL, e.g. https://localhost:3443 (default: the one logged in to)" },
    token: { type: "string", alias: "t", description: "Use this bearer token (not refreshed)" },
    username: { type: "string", alias: "u", description: "User name for the password grant" },
    password: { type: "string", alias: "p", description: "Password for the password grant" },
    provider: { type: "string", description: "Auth provider to use (default: the server's default)" },
    "show-providers": { type: "boolean", description: "List the server's auth providers and exit" },
    web: { type: "boolean", description: "Log in through the browser (the default without -u/-t)" },
    "no-browser": { type: "boolean", description: "Print the login URL instead of opening a browser" },
    "callback-port": { type: "string", description: "Local port for the browser's redirect (default: any free port)" },
    "certificate-authority": { type: "string", description: "PEM file of the CA that signs the server's certificate" },
    "auth-certificate-authority": { type: "string", description: "PEM file of the CA of the auth provider (default: the server's)" },
    "insecure-skip-tls-verify": { type: "boolean", alias: "k", description: "Do not verify the server's certificate (insecure)" },
  },
  async run({ args }) {
    const previous = await readConfig(args).catch(() => undefined);
    const server = (args.url ?? previous?.service.server)?.replace(/\/+$/, "");
    if (!server) throw new UsageError("give the server URL: flightctl login https://<host>:3443");
    if (!/^https:\/\//.test(server)) throw new UsageError(`the server URL must start with https:// (got "${server}")`);
    const readPem = (f: string, flag: string) => {
      try {
        return readFileSync(f, "utf8");
      } catch (e) {
        throw new UsageError(`--${flag} ${f}: ${(e as Error).message}`);
      }
    };
    const ca = args["certificate-authority"]
      ? readPem(args["certificate-authority"], "certificate-authority")
      : previous?.service.server === server && previous.service["certificate-authority-data"]
        ? Buffer.from(previous.service["certificate-authority-data"], "base64").toString("utf8")
        : undefined;
    const insecure = !!args["insecure-skip-tls-verify"];
    const authCa = args["auth-certificate-authority"] ? readPem(args["auth-certificate-authority"], "auth-certificate-authority") : ca;
    const cfg: ClientConfig = {
      service: {
        server,
        ...(ca ? { "certificate-authority-data": Buffer.from(ca).toString("base64") } : {}),
        ...(insecure ? { insecureSkipVerify: true } : {}),
      },
      ...(previous?.service.server === server && previous.organization ? { organization: previous.organization } : {}),
    };
    const { AuthService } = await import("../../gen/flightctl/v1beta1/auth_service_pb.js");
    const anon = createClient(AuthService, makeTransport(server, { ca, insecure }));

    const token = args.token ?? (args.username ? undefined : process.env.FLIGHTCTL_TOKEN);
    if (token) {
      cfg.authentication = { token };
    } else {
      const auth = await anon.getAuthConfig({});
      const providers = auth.providers.filter((p) => p.spec?.enabled !== false);
      if (args["show-providers"]) {
        const rows = providers.map((p) => [
          p.metadata?.name ?? "",
          p.spec?.providerType ?? "",
          p.spec?.displayName ?? "",
          p.spec?.issuer ?? p.spec?.authorizationUrl ?? "",
        ]);
        return void process.stdout.write(table(["NAME", "TYPE", "DISPLAY NAME", "ISSUER"], rows));
      }
      const provider = pickProvider(providers, args.provider ?? auth.defaultProvider);
      const spec = provider.spec!;
      const name = provider.metadata!.name!;
      const tls = { ca: authCa, insecure };
      const endpoints =
        spec.providerType === "oidc" ? await discover(spec.issuer!, tls) : { authorization: spec.authorizationUrl, token: spec.tokenUrl };
      const scope = (spec.scopes.length ? spec.scopes : ["openid", "offline_access"]).join(" ");
      const clientId = spec.clientId ?? "";
      const username = args.username ?? process.env.FLIGHTCTL_USERNAME;
      let tokens: Tokens;
      if (username) {
        const password = args.password ?? process.env.FLIGHTCTL_PASSWORD;
        if (!password) throw new UsageError("--password (-p) is required with --username (or set FLIGHTCTL_PASSWORD)");
        if (!endpoints.token) throw new UsageError(`auth provider "${name}" has no token endpoint`);
        tokens = await passwordGrant(endpoints.token, tls, clientId, username, password, scope);
      } else {
        if (!endpoints.authorization)
          throw new UsageError(`auth provider "${name}" has no authorization endpoint; log in with --token or -u/-p`);
        const { verifier, challenge } = pkce();
        const state = pkce().verifier;
        const { code, redirectUri } = await awaitCode(Number(args["callback-port"] ?? 0), state, (redirectUri) => {
          const u = new URL(endpoints.authorization!);
          for (const [k, v] of Object.entries({
            response_type: "code",
            client_id: clientId,
            redirect_uri: redirectUri,
            scope,
            state,
            code_challenge: challenge,
            code_challenge_method: "S256",
          })) {
            u.searchParams.set(k, v);
          }
          process.stderr.write(`Open this URL in a browser to log in:\n\n  ${u.href}\n\n`);
          if (!args["no-browser"]) openBrowser(u.href);
        });
        const res = await anon.exchangeToken({
          providerName: name,
          grantType: "authorization_code",
          clientId,
          code,
          codeVerifier: verifier,
          redirectUri,
        });
        tokens = {
          access_token: res.accessToken ?? "",
          refresh_token: res.refreshToken,
          expires_in: res.expiresIn === undefined ? undefined : Number(res.expiresIn),
        };
      }
      const exp = jwtExpiry(tokens.access_token) ?? (tokens.expires_in ? Math.floor(Date.now() / 1000) + tokens.expires_in : undefined);
      cfg.authentication = {
        "auth-provider": {
          name,
          config: {
            "client-id": clientId,
            ...(spec.issuer ? { issuer: spec.issuer } : {}),
            ...(endpoints.token ? { "token-url": endpoints.token } : {}),
            "access-token": tokens.access_token,
            ...(tokens.refresh_token ? { "refresh-token": tokens.refresh_token } : {}),
            ...(exp ? { "expires-at": String(exp) } : {}),
            ...(authCa && authCa !== ca ? { "certificate-authority-data": Buffer.from(authCa).toString("base64") } : {}),
          },
        },
      };
    }
    const path = await writeConfig(args, cfg);
    // Prove the credentials work before saying so.
    const s = await session(args);
    try {
      const me = await s.client(AuthService).getUserInfo({});
      const orgs = me.organizations.map((o) => o.spec?.displayName || o.metadata?.name).filter(Boolean);
      process.stdout.write(
        `Login successful as ${me.preferredUsername ?? me.sub ?? "(unknown)"}${orgs.length ? ` (organizations: ${orgs.join(", ")})` : ""}.\nConfiguration: ${path}\n`,
      );
    } catch (e) {
      await writeConfig(args, { ...cfg, authentication: undefined });
      throw e;
    }
  },
});

function pickProvider(providers: AuthProvider[], wanted: string | undefined): AuthProvider {
  if (providers.length === 0) throw new UsageError("the server has no auth provider configured; log in with --token");
  const usable = providers.filter((p) => p.spec?.providerType === "oidc" || p.spec?.providerType === "oauth2");
  if (wanted) {
    const p = providers.find((x) => x.metadata?.name === wanted);
    if (!p)
      throw new UsageError(
        `no auth provider "${wanted}"; the server has: ${providers.map((x) => x.metadata?.name).join(", ")} (see --show-providers)`,
      );
    return p;
  }
  if (usable.length === 0)
    throw new UsageError(
      `none of the server's auth providers (${providers.map((x) => x.metadata?.name).join(", ")}) supports CLI login; use --token`,
    );
  return usable[0];
}

function openBrowser(url: string): void {
  const cmd = process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  try {
    spawn(cmd, [url], { stdio: "ignore", detached: true })
      .on("error", () => {})
      .unref();
  } catch {
    // The URL is printed; a missing opener is not an error.
  }
}

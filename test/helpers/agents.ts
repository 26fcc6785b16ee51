// Shared by the agent and rollout tests: polling with a deadline, and an agent config for a test API.
import { readFileSync } from "node:fs";
import { stringify } from "yaml";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EnrollmentConfigService } from "../../gen/flightctl/v1beta1/enrollmentconfig_service_pb.js";
import type { TestApi } from "./api.js";

/** Polls `fn` every 100 ms until it returns something truthy; the last error is in the timeout message. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

/** A user-API client of `t` (gRPC over TLS trusting its CA). */
export const userClient = <S extends Parameters<typeof createClient>[0]>(t: TestApi, s: S) =>
  createClient(s, createGrpcTransport({ baseUrl: `https://localhost:${t.api.port}`, nodeOptions: { ca: readFileSync(t.api.caPath) } }));

/** The agent config.yaml for the enrollment material the user API hands out, with short intervals for tests. */
export async function agentConfigYaml(t: TestApi, token: string, dataDir: string, rootDir: string): Promise<string> {
  const cfg = await userClient(t, EnrollmentConfigService).getEnrollmentConfig({}, { headers: { authorization: `Bearer ${token}` } });
  return stringify({
    "enrollment-service": {
      service: {
        server: `https://localhost:${t.api.agentPort}`,
        "certificate-authority-data": cfg.enrollmentService!.service!.certificateAuthorityData,
      },
      authentication: {
        "client-certificate-data": cfg.enrollmentService!.authentication!.clientCertificateData,
        "client-key-data": cfg.enrollmentService!.authentication!.clientKeyData,
      },
    },
    "data-dir": dataDir,
    "test-root-dir": rootDir,
    "status-update-interval": "2s",
    "enrollment-verify-interval": "200ms",
    "spec-fetch-error-base-delay": "200ms",
    "spec-fetch-error-max-delay": "2s",
    "default-labels": { site: "lab" },
  });
}

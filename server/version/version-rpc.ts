// VersionService: the running service's version (package.json version, plus the git commit when known).
import type { ConnectRouter } from "@connectrpc/connect";
import { readFileSync } from "node:fs";
import { VersionService } from "../../gen/flightctl/v1beta1/version_service_pb.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

/** "v0.1.0", or "v0.1.0+<commit>" when the build's git commit is known (FLIGHTCTL_GIT_COMMIT). */
export const serviceVersion = (gitCommit?: string) => `v${pkg.version}${gitCommit ? `+${gitCommit}` : ""}`;

export const versionServiceRegistration = {
  service: VersionService,
  register(router: ConnectRouter, deps: { gitCommit?: string }) {
    const version = serviceVersion(deps.gitCommit);
    router.service(VersionService, { getVersion: async () => ({ version }) });
  },
};

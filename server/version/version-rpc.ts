// VersionService: the running service's version (package.json version, plus the git commit when known).
import type { ConnectRouter } from "@connectrpc/connect";
import { readFileSync } from "node:fs";
import { VersionService } from "../../gen/flightctl/v1beta1/version_service_pb.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

/** "v0.1.0", or "v0.1.0+<commit>" when FLIGHTCTL_GIT_COMMIT is set at build/deploy time. */
export const serviceVersion = `v${pkg.version}${process.env.FLIGHTCTL_GIT_COMMIT ? `+${process.env.FLIGHTCTL_GIT_COMMIT}` : ""}`;

export const versionServiceRegistration = {
  service: VersionService,
  register(router: ConnectRouter) {
    router.service(VersionService, { getVersion: async () => ({ version: serviceVersion }) });
  },
};

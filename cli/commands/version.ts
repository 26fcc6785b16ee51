// flightctl version: this client's version and the server's (when logged in).
import { defineCommand } from "citty";
import { globalArgs } from "../config.js";
import { describe } from "../errors.js";
import { CLIENT_VERSION } from "../version-info.js";
import { toJsonText, toYaml } from "../output.js";
import { session } from "../transport.js";

export default defineCommand({
  meta: { name: "version", description: "Print the client and server versions.\n\n  flightctl version\n  flightctl version -o json" },
  args: { ...globalArgs, output: { type: "string", alias: "o", description: "Output format: yaml or json" } },
  async run({ args }) {
    let server: string | undefined;
    let error: string | undefined;
    try {
      const s = await session(args);
      const { VersionService } = await import("../../gen/flightctl/v1beta1/version_service_pb.js");
      server = (await s.client(VersionService).getVersion({})).version;
    } catch (e) {
      error = describe(e);
    }
    const v = { clientVersion: CLIENT_VERSION, ...(server ? { serverVersion: server } : {}) };
    if (args.output === "json") process.stdout.write(toJsonText(v));
    else if (args.output === "yaml") process.stdout.write(await toYaml(v));
    else process.stdout.write(`Client Version: ${CLIENT_VERSION}\nServer Version: ${server ?? `unknown (${error})`}\n`);
  },
});

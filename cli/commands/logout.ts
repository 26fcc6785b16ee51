// flightctl logout: forget the credentials (and the server) of this configuration context.
import { defineCommand } from "citty";
import { configPath, globalArgs, removeConfig } from "../config.js";

export default defineCommand({
  meta: { name: "logout", description: "Forget the stored credentials.\n\n  flightctl logout\n  flightctl logout -c staging" },
  args: { ...globalArgs },
  run({ args }) {
    const path = configPath(args);
    process.stdout.write(removeConfig(args) ? `Logged out (removed ${path}).\n` : `Not logged in (no ${path}).\n`);
  },
});

// Run after `npm ci` / `npm install` (postinstall): the optional native modules did build, or a warning says what
// is lost and how to get it. npm only logs an optional dependency's failed build deep in its output (or not at all
// without --foreground-scripts), so without this the PAM login would be missing silently.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(new URL("../package.json", import.meta.url));
const modules = [
  {
    name: "authenticate-pam",
    packages: "libpam0g-dev",
    lost: "local Linux users cannot log in to the service (PAM); only the bootstrap admin can",
  },
  { name: "node-pty", packages: "make g++ python3", lost: "the agent's remote console cannot open a terminal" },
];

for (const m of modules) {
  try {
    require(m.name);
  } catch {
    // npm drops an optional dependency whose build failed; a required one stays, unbuilt.
    const present = existsSync(new URL(`../node_modules/${m.name}/package.json`, import.meta.url));
    const fix = present ? `npm rebuild ${m.name}` : "npm ci";
    process.stderr.write(
      `\nWARNING: ${m.name} did not build on this machine: ${m.lost}.\n` + `         To fix: apt-get install ${m.packages} && ${fix}\n\n`,
    );
  }
}

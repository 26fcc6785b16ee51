// The import-graph check (`npm run check:imports`): the layers of the house point one way and nothing loops.
// lib/ is shared by the agent, the CLI and the server and depends only on gen/ and npm packages; the agent and the
// CLI never reach into the server; the server's platform/ does not import the kind folders built on it; nothing
// imports the process entry points (server/main/) back.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "An import loop: split the shared part (types, helpers) into its own module.",
      from: { path: "^(server|agent|cli|lib)/" },
      to: { circular: true },
    },
    {
      name: "agent-cli-not-server",
      severity: "error",
      comment: "The agent and the CLI ship without the server: share code through lib/.",
      from: { path: "^(agent|cli)/" },
      to: { path: "^server/" },
    },
    {
      name: "lib-depends-on-gen-only",
      severity: "error",
      comment: "lib/ is what the agent, the CLI and the server share: it may use gen/ and npm packages only.",
      from: { path: "^lib/" },
      to: { path: "^(server|agent|cli|db|test|web|bin)/" },
    },
    {
      name: "platform-not-kinds",
      severity: "error",
      comment: "server/platform/ is the machinery the kinds are built on: it must not import a kind folder back.",
      from: { path: "^server/platform/", pathNot: "\\.test\\.ts$" },
      to: { path: "^server/", pathNot: "^server/platform/" },
    },
    {
      name: "main-is-the-top",
      severity: "error",
      comment: "server/main/ starts the processes: nothing in the server imports it back.",
      from: { path: "^server/", pathNot: ["^server/main/", "\\.test\\.ts$"] },
      to: { path: "^server/main/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/" },
    // Type-only imports count: a loop through types is still a loop in the design.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"] },
  },
};

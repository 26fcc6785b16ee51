// Every table drizzle-kit generates migrations for (db/drizzle.config.ts points here).
export { resourceVersionSeq, resourceColumns, resourceTable, textC } from "./resource.js";
export {
  devices,
  fleets,
  templateVersions,
  enrollmentRequests,
  certificateSigningRequests,
  repositories,
  resourceSyncs,
  authProviders,
} from "./resources.js";
export { deviceLastSeen } from "./device-last-seen.js";
export { deviceRenders } from "./device-renders.js";
export { appOverrides } from "./app-overrides.js";
export { events } from "./events.js";
export { organizations, DEFAULT_ORG_ID } from "./organizations.js";
export { consoleSessions } from "./console-sessions.js";
export { watchChanges, watchState } from "./watch.js";
export { metricsSnapshots } from "./metrics-snapshot.js";
export { alertExporterState, alerts } from "./alerts.js";

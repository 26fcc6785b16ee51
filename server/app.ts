// createApp(deps) builds everything the user endpoint serves, independent of how it is listened on.
// main/ processes and tests share it. (Stub: the resource services are being wired in.)
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { DescFile, DescService } from "@bufbuild/protobuf";
import type { Pool } from "pg";
import type { Logger } from "pino";

export interface AppDeps {
  /** Shared Postgres pool (drizzle is built on it inside the stores). */
  pool: Pool;
  log: Logger;
}

export interface App {
  /** Registers every user-API service implementation on a Connect router. */
  register(router: ConnectRouter): void;
  /** Interceptors the user endpoint must install (innermost last); include the error mapper. */
  interceptors: Interceptor[];
  /** Every service served, for health checking. */
  services: DescService[];
  /** Every proto file served, for server reflection. */
  files: DescFile[];
}

export function createApp(_deps: AppDeps): App {
  return { register: () => {}, interceptors: [], services: [], files: [] };
}

// What one HTTP endpoint serves, as the app builds it and http-server.ts listens on it.
import type { DescFile, DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { RawStream } from "./grpc-stream.js";

/** What one endpoint serves. */
export interface App {
  /** Registers every service implementation on a Connect router. */
  register(router: ConnectRouter): void;
  /** Interceptors the endpoint must install (innermost last); include auth and, first, the error mapper. */
  interceptors: Interceptor[];
  /** Every service served, for health checking. */
  services: DescService[];
  /** Every proto file served, for server reflection. */
  files: DescFile[];
  /** Ends open streams and long-polls so a closing endpoint drains quickly. */
  drain?(): void;
  /** Streams the endpoint serves below Connect for plain gRPC clients (Connect still serves the rest). */
  rawStreams?(): RawStream[];
}

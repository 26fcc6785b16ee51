// The limits of one HTTP endpoint (user or agent): request size, the shape of request messages, connection timeouts.
// Defaults here; server/config.ts reads the overrides (docs/server.md lists them).
import { DEFAULT_INPUT_LIMITS, type InputLimits } from "./validation/input-limits.js";

export interface EndpointLimits {
  /** Largest request (a unary body, or one message of a stream), every protocol and HTTP version: ResourceExhausted. */
  maxRequestBytes: number;
  /** String, item and nesting limits of every request message (InvalidArgument naming the field). */
  input: InputLimits;
  /** A TLS handshake must complete within this. */
  tlsHandshakeTimeoutMs: number;
  /** HTTP/1.1: a request's headers must arrive within this. */
  headersTimeoutMs: number;
  /** HTTP/1.1: an idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** HTTP/2: a session with no open stream for this long is closed with GOAWAY (an open stream keeps it alive). */
  http2IdleTimeoutMs: number;
  /** HTTP/2: streams one session may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number;
}

export const DEFAULT_ENDPOINT_LIMITS: EndpointLimits = {
  maxRequestBytes: 4 * 1024 * 1024, // gRPC's default
  input: DEFAULT_INPUT_LIMITS,
  tlsHandshakeTimeoutMs: 10_000,
  headersTimeoutMs: 20_000,
  keepAliveTimeoutMs: 30_000,
  http2IdleTimeoutMs: 120_000,
  maxConcurrentStreams: 1000,
};

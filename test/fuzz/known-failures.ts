// TEMPORARY and OFF by default (FC_FUZZ_KNOWN_FAILURES=1, or `npm run fuzz -- --known-failures`): the failure classes
// seen on main at 552350e that other branches of issue 24 (deliverable 3: boundary validation from the descriptors,
// the Postgres-error backstop, one request size limit) are fixing. Matched failures are still printed and counted,
// but do not fail the run. Delete each entry when its fix lands, and this file when it is empty. Never on in CI.
export const KNOWN_FAILURES: RegExp[] = [
  // Undecodable bodies: protobuf-es's decoder errors surface as Internal.
  /^code Internal: parse binary: /,
  /^code Internal: cannot decode message .* from JSON/,
  /^code Internal: received compressed envelope/,
  // NUL (Postgres 22021) and other bad strings that reach SQL: a generic Internal.
  /^code Internal: internal error \[input has [^\]]*(NUL|lone surrogate|huge-string)/,
  // Oversized bodies and echoed huge inputs: the HTTP/2 stream or connection is reset, or no answer comes.
  /NGHTTPN_(ENHANCE_YOUR_CALM|FRAME_SIZE_ERROR)/,
  /^no answer within the bound/,
  /^no answer \(connection or stream failed\): .*NGHTTPN_(ENHANCE_YOUR_CALM|INTERNAL_ERROR)/,
];

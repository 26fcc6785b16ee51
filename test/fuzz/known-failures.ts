// TEMPORARY and OFF by default (FC_FUZZ_KNOWN_FAILURES=1 / `npm run fuzz -- --known-failures`): failure classes
// that fixes in flight (issue 24, deliverable 3: boundary validation, the Postgres-error backstop, one request size
// limit) are expected to remove. Matched failures are still printed, but do not fail the run. Delete entries as the
// fixes land; delete the file when it is empty. Never turn it on in CI.
export const KNOWN_FAILURES: RegExp[] = [];

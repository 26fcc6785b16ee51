// The `npm start` banner's login lines: PAM users are offered only when the PAM module is there; otherwise the banner
// says why they cannot log in and how to enable it.

/** The line(s) after the bootstrap admin's, each ending in a newline. */
export function pamLoginLines(pamAvailable: boolean, service: string): string {
  if (pamAvailable) return `  or as any local Linux user (PAM service "${service}", roles from flightctl-* groups)\n`;
  return (
    "  local Linux users cannot log in: PAM support (authenticate-pam) did not build on this machine; to enable it:\n" +
    "          apt-get install libpam0g-dev && npm rebuild authenticate-pam   (or npm ci again), then restart\n"
  );
}

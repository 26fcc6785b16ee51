// What a failed git call means, in words a person can act on. git reports failures only as text on stderr; this is
// the one place that reads it. Messages name the repository by its credential-free URL and never quote a secret.
import net from "node:net";

export type GitFailure =
  | "Unreachable"
  | "AuthenticationFailed"
  | "RepositoryNotFound"
  | "RevisionNotFound"
  | "PathNotFound"
  | "TooLarge"
  | "Timeout"
  | "Failed";

/** A message a person can act on; never contains a secret (password, token, key, passphrase), not even in stderr it quotes. */
export class GitError extends Error {
  constructor(
    readonly reason: GitFailure,
    message: string,
  ) {
    super(message);
    this.name = "GitError";
  }
}

/** Who we talked to, for messages. */
export interface RemoteLabel {
  /** The URL without credentials. */
  display: string;
  /** host:port. */
  hostPort: string;
  /** Removes secrets from text quoted from git. */
  redact(text: string): string;
}

/** What curl says when it does not say why. */
const GENERIC = "connection failed";
const NETWORK: [RegExp, string][] = [
  [/connection refused/i, "connection refused"],
  [/could not resolve host|could not resolve hostname|name or service not known|temporary failure in name resolution/i, "host not found"],
  [/no route to host/i, "no route to host"],
  [/network is unreachable/i, "network unreachable"],
  [/connection timed out|operation timed out/i, "connection timed out"],
  [/connection reset|connection closed by|broken pipe|empty reply from server|recv failure/i, "the connection was closed"],
  [/failed to connect|couldn't connect/i, GENERIC],
];

const AUTH =
  /authentication failed|could not read (username|password)|terminal prompts disabled|returned error: 40[13]\b|permission denied \((publickey|password|keyboard)|permission denied, please try again|incorrect passphrase|bad passphrase|access denied|invalid credentials|too many authentication failures/i;
// A TLS server that wants a client certificate it did not get (or does not trust) ends the handshake with an alert;
// with TLS 1.3 the client may only notice as the connection vanishing under it (getpeername).
const TLS_REJECTED =
  /tls fatal alert|alert certificate required|certificate required|bad certificate|unknown ca|handshake failure|getpeername\(\) failed/i;
const HOST_KEY = /host key verification failed|remote host identification has changed|no \S+ host key is known/i;
const SERVER_CERT =
  /server certificate verification failed|ssl certificate problem|certificate verify failed|unable to get local issuer|self[- ]signed certificate|certificate has expired|no alternative certificate subject name/i;
const REPO_MISSING =
  /repository .*not found|not found: did you run git update-server-info|does not appear to be a git repository|returned error: 404\b|no such repository/i;
/** The server does not have (or will not hand out) the commit or ref we asked for. */
export const WANT_REFUSED =
  /not our ref|couldn't find remote ref|no such remote ref|unadvertised object|upload-pack: not our|did not send all necessary objects/i;

/** The last meaningful lines of git's stderr, redacted, for the catch-all message. */
function tail(stderr: string, label: RemoteLabel): string {
  const lines = label
    .redact(stderr)
    .split("\n")
    .map((l) => l.replace(/^(fatal|error|remote|warning): ?/i, "").trim())
    .filter(Boolean);
  return lines.slice(-3).join("; ").slice(0, 500);
}

/** Maps a failed remote git call to a GitError; `what` says what we were doing ("fetch", "ls-remote"). */
export async function remoteFailure(
  what: string,
  stderr: string,
  killed: string | undefined,
  timeoutMs: number,
  label: RemoteLabel,
): Promise<GitError> {
  const e = classify(what, stderr, killed, timeoutMs, label);
  // curl only says "Couldn't connect to server": one TCP connect of our own tells refused from timed out from unknown host.
  if (e.reason === "Unreachable" && e.message.endsWith(GENERIC)) {
    const why = await probe(label.hostPort);
    if (why) return new GitError("Unreachable", `cannot reach ${label.hostPort}: ${why}`);
  }
  return e;
}

const PROBE_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
};

function probe(hostPort: string): Promise<string | undefined> {
  const i = hostPort.lastIndexOf(":");
  const host = hostPort.slice(0, i).replace(/^\[|\]$/g, "");
  return new Promise((resolve) => {
    const s = net.connect({ host, port: Number(hostPort.slice(i + 1)), timeout: 5000 });
    const done = (why?: string) => {
      s.destroy();
      resolve(why);
    };
    s.once("connect", () => done());
    s.once("timeout", () => done("connection timed out"));
    s.once("error", (err: NodeJS.ErrnoException) => done(PROBE_ERRORS[err.code ?? ""]));
  });
}

function classify(what: string, stderr: string, killed: string | undefined, timeoutMs: number, label: RemoteLabel): GitError {
  if (killed === "timeout") return new GitError("Timeout", `${what} of ${label.display} timed out after ${timeoutMs / 1000} s`);
  if (HOST_KEY.test(stderr)) {
    return new GitError(
      "AuthenticationFailed",
      `host key verification failed for ${label.hostPort}: add its key to the known hosts file, or set sshConfig.skipServerVerification`,
    );
  }
  if (SERVER_CERT.test(stderr)) {
    return new GitError(
      "AuthenticationFailed",
      `server certificate verification failed for ${label.display}: set the repository's httpConfig.ca.crt, or httpConfig.skipServerVerification`,
    );
  }
  if (label.display.startsWith("https:") && TLS_REJECTED.test(stderr)) {
    return new GitError(
      "AuthenticationFailed",
      `the server at ${label.display} rejected the TLS connection: check the repository's client certificate (httpConfig tls.crt and tls.key)`,
    );
  }
  // Before AUTH: an ssh "Connection closed" during key exchange is a network problem, not a credentials one.
  for (const [re, words] of NETWORK) {
    if (re.test(stderr) && !AUTH.test(stderr)) return new GitError("Unreachable", `cannot reach ${label.hostPort}: ${words}`);
  }
  if (AUTH.test(stderr))
    return new GitError("AuthenticationFailed", `authentication failed for ${label.display}: check the repository's credentials`);
  if (REPO_MISSING.test(stderr)) return new GitError("RepositoryNotFound", `repository not found at ${label.display}`);
  return new GitError("Failed", `git ${what} of ${label.display} failed: ${tail(stderr, label) || "no message"}`);
}

/** Replaces every occurrence of each secret (and credentials in URLs) with "***". */
export function redactor(secrets: string[]): (text: string) => string {
  // Longest first, so a secret that contains another is replaced whole.
  const list = [...new Set(secrets.filter((s) => s.length >= 3))].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text.replace(/(\/\/[^/@\s:]*):[^/@\s]*@/g, "$1:***@");
    for (const s of list) out = out.split(s).join("***");
    return out;
  };
}

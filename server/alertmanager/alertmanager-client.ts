// A small client of Alertmanager's API v2: the reads and silence calls the Alertmanager proxy and the API's
// AlertService make. Alertmanager refusing a request (4xx) is an AlertmanagerRefusal carrying its status and text;
// not reaching it, or a 5xx, is Unavailable.
import { unavailable } from "../platform/errors.js";
import { truncate } from "../../lib/quote.js";

/** An alert as GET /api/v2/alerts returns it (and inside a group). */
export interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt?: string;
  fingerprint: string;
  receivers?: { name: string }[];
  status: { state: "active" | "suppressed" | "unprocessed"; silencedBy: string[]; inhibitedBy: string[] };
}

/** One group of GET /api/v2/alerts/groups. */
export interface AmAlertGroup {
  labels: Record<string, string>;
  receiver: { name: string };
  alerts: AmAlert[];
}

/** A silence's matcher as the API writes it (isEqual absent means true). */
export interface AmSilenceMatcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual?: boolean;
}

/** A silence as POST /api/v2/silences takes it (id set: replaces that silence). */
export interface AmPostableSilence {
  id?: string;
  matchers: AmSilenceMatcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

/** A silence as GET /api/v2/silences returns it. */
export interface AmSilence extends AmPostableSilence {
  id: string;
  status: { state: "active" | "pending" | "expired" };
  updatedAt?: string;
}

/** The alert filters of GET /api/v2/alerts and /alerts/groups (booleans unset: Alertmanager's default, true). */
export interface AlertQuery {
  /** Matchers in Alertmanager's text form. */
  filter: string[];
  active?: boolean;
  silenced?: boolean;
  inhibited?: boolean;
  /** Not for groups. */
  unprocessed?: boolean;
  /** A regular expression on receiver names. */
  receiver?: string;
}

/** Alertmanager refused the request (4xx): its status and what it said. */
export class AlertmanagerRefusal extends Error {
  override name = "AlertmanagerRefusal";
  constructor(
    readonly status: number,
    readonly text: string,
  ) {
    super(`Alertmanager answered ${status}: ${text}`);
  }
}

export interface AlertmanagerClient {
  readonly url: string;
  alerts(q: AlertQuery): Promise<AmAlert[]>;
  groups(q: AlertQuery): Promise<AmAlertGroup[]>;
  silences(filter: string[]): Promise<AmSilence[]>;
  /** Undefined when there is no such silence. */
  silence(id: string): Promise<AmSilence | undefined>;
  postSilence(s: AmPostableSilence): Promise<{ silenceID: string }>;
  deleteSilence(id: string): Promise<void>;
  /** GET of `path` as is (status, ready): status, content type and body. */
  raw(path: string): Promise<{ status: number; contentType: string; body: Buffer }>;
}

function alertParams(q: AlertQuery): URLSearchParams {
  const p = new URLSearchParams();
  for (const f of q.filter) p.append("filter", f);
  for (const k of ["active", "silenced", "inhibited", "unprocessed"] as const) if (q[k] !== undefined) p.set(k, String(q[k]));
  if (q.receiver !== undefined) p.set("receiver", q.receiver);
  return p;
}

export function createAlertmanagerClient(baseUrl: string, opts: { timeoutMs?: number } = {}): AlertmanagerClient {
  const base = baseUrl.replace(/\/+$/, "");
  const timeoutMs = opts.timeoutMs ?? 10_000;

  async function send(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        signal: AbortSignal.timeout(timeoutMs),
        ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw unavailable(`cannot reach Alertmanager at ${base}: ${(err as Error).message}`);
    }
    return res;
  }

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await send(method, path, body);
    const text = await res.text();
    if (res.status >= 500) throw unavailable(`Alertmanager at ${base} answered ${res.status}: ${truncate(text.trim(), 300)}`);
    if (!res.ok) throw new AlertmanagerRefusal(res.status, truncate(text.trim(), 1000));
    return (text ? JSON.parse(text) : undefined) as T;
  }

  return {
    url: base,
    alerts: (q) => call("GET", `/api/v2/alerts?${alertParams(q)}`),
    groups: (q) => call("GET", `/api/v2/alerts/groups?${alertParams({ ...q, unprocessed: undefined })}`),
    silences(filter) {
      const p = new URLSearchParams();
      for (const f of filter) p.append("filter", f);
      return call("GET", `/api/v2/silences?${p}`);
    },
    async silence(id) {
      try {
        return await call<AmSilence>("GET", `/api/v2/silence/${encodeURIComponent(id)}`);
      } catch (e) {
        // 404: no such silence; 422: not a silence id at all (Alertmanager checks the UUID form).
        if (e instanceof AlertmanagerRefusal && (e.status === 404 || e.status === 422)) return undefined;
        throw e;
      }
    },
    postSilence: (s) => call("POST", "/api/v2/silences", s),
    async deleteSilence(id) {
      await call("DELETE", `/api/v2/silence/${encodeURIComponent(id)}`);
    },
    async raw(path) {
      const res = await send("GET", path);
      return {
        status: res.status,
        contentType: res.headers.get("content-type") ?? "text/plain",
        body: Buffer.from(await res.arrayBuffer()),
      };
    },
  };
}

// Small shared pieces: async loading with error display, status badges, conditions and key/value tables.
import type { ComponentChildren } from "preact";
import { createContext } from "preact";
import { useCallback, useContext, useEffect, useRef, useState } from "preact/hooks";
import { errorText } from "./api.js";

export interface AppState {
  orgId: string;
  /** Whether the caller's role allows `verb` on `resource` in the current organization (the API checks anyway). */
  can(resource: string, verb: string): boolean;
}
export const AppContext = createContext<AppState>({ orgId: "", can: () => false });
export const useApp = () => useContext(AppContext);

export interface Async<T> {
  data?: T;
  error?: string;
  loading: boolean;
  reload(): void;
  set(data: T): void;
  /** Applies a change to the latest data (live updates). */
  update(fn: (data: T) => T): void;
}

/** Runs `fn` when `deps` change; the latest call wins. */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean }>({ loading: true });
  const seq = useRef(0);
  const run = useCallback(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => mine === seq.current && setState({ data, loading: false }),
      (e) => mine === seq.current && setState((s) => ({ data: s.data, error: errorText(e), loading: false })),
    );
    // The caller names what fn depends on (fn itself is a new closure on every render).
  }, deps);
  useEffect(run, [run]);
  return {
    ...state,
    reload: run,
    set: (data: T) => setState({ data, loading: false }),
    update: (fn: (data: T) => T) => setState((s) => (s.data === undefined ? s : { ...s, data: fn(s.data) })),
  };
}

/** Calls `fn` every `ms` while mounted (the fallback for live updates where no watch stream exists). */
export function useInterval(fn: () => void, ms: number) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    const t = setInterval(() => saved.current(), ms);
    return () => clearInterval(t);
  }, [ms]);
}

/**
 * After a failed read (the service or what it reads from slow or restarting), `load` again in `ms`, not at the next
 * periodic refresh: a page polled every 30 s or more would otherwise sit on its error that long.
 */
export function useRetryAfterError(error: string | undefined, load: () => void, ms = 5_000) {
  useEffect(() => {
    if (!error) return;
    const t = setTimeout(load, ms);
    return () => clearTimeout(t);
  }, [error, load, ms]);
}

export function ErrorBox({ error }: { error?: string }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

const TONE: Record<string, string> = {
  Online: "ok",
  UpToDate: "ok",
  Healthy: "ok",
  Running: "ok",
  True: "ok",
  Approved: "ok",
  Enrolled: "ok",
  Accessible: "ok",
  Degraded: "warn",
  Updating: "warn",
  Preparing: "warn",
  Pending: "warn",
  Unknown: "muted",
  AwaitingReconnect: "warn",
  OutOfDate: "warn",
  Error: "bad",
  Rebooting: "warn",
  PoweredOff: "muted",
  Offline: "bad",
  Failed: "bad",
  False: "bad",
  Denied: "bad",
  Unhealthy: "bad",
  ConflictPaused: "warn",
  Decommissioning: "warn",
  Decommissioned: "muted",
  Normal: "muted",
  Warning: "warn",
};

export function Badge({ value }: { value?: string }) {
  if (!value) return <span class="badge muted">–</span>;
  return <span class={`badge ${TONE[value] ?? "muted"}`}>{value}</span>;
}

export function Page({ title, actions, children }: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  useEffect(() => {
    document.title = `${title} · Flight Control`;
  }, [title]);
  return (
    <section aria-labelledby="page-title">
      <header class="page-head">
        <h1 id="page-title" tabIndex={-1}>
          {title}
        </h1>
        <div class="actions">{actions}</div>
      </header>
      {children}
    </section>
  );
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  const id = `s-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

export interface ConditionLike {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: unknown;
}

export function Conditions({ list }: { list?: ConditionLike[] }) {
  if (!list?.length) return <p class="muted">No conditions reported.</p>;
  return (
    <table class="grid">
      <GridHead cols={["Type", "Status", "Reason", "Message"]} />
      <tbody>
        {list.map((c) => (
          <tr key={c.type}>
            <td>{c.type}</td>
            <td>
              <Badge value={c.status} />
            </td>
            <td>{c.reason}</td>
            <td>{c.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Counts({ title, counts }: { title: string; counts?: Record<string, number> }) {
  const entries = Object.entries(counts ?? {}).sort((a, b) => b[1] - a[1]);
  return (
    <div class="counts">
      <h3>{title}</h3>
      {entries.length ? (
        <dl>
          {entries.map(([k, v]) => (
            <div key={k}>
              <dt>
                <Badge value={k} />
              </dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <p class="muted">None</p>
      )}
    </div>
  );
}

export const labelsText = (labels?: Record<string, string>) =>
  Object.entries(labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");

/** "a=b, c=d" → {a: "b", c: "d"}; an entry without "=" gets an empty value. */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = part.indexOf("=");
    out[i < 0 ? part : part.slice(0, i).trim()] = i < 0 ? "" : part.slice(i + 1).trim();
  }
  return out;
}

type Ts = { seconds: bigint; nanos: number };
const msOf = (ts: Ts) => Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6);

/** A protobuf Timestamp (or undefined) as local time. */
export function time(ts?: Ts): string {
  if (!ts) return "–";
  return new Date(msOf(ts)).toLocaleString();
}

/** A protobuf Timestamp as a short local date and time (for table cells that must not wrap). */
export function shortTime(ts?: Ts): string {
  if (!ts) return "–";
  return new Date(msOf(ts)).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

/** How long ago `ms` (epoch) was, e.g. "12 s ago", "3 min ago", "2 h ago", "5 d ago". */
export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** A past moment relative to now (refreshed every few seconds), with the absolute time as its title; "–" if never. */
export function Ago({ ts }: { ts?: Ts }) {
  const [, tick] = useState(0);
  useEffect(() => {
    if (!ts) return;
    const t = setInterval(() => tick((n) => n + 1), 5000);
    return () => clearInterval(t);
  }, [!ts]);
  if (!ts) return <span class="muted">–</span>;
  const at = new Date(msOf(ts));
  return (
    <time dateTime={at.toISOString()} title={at.toLocaleString()}>
      {ago(at.getTime())}
    </time>
  );
}

export function Labels({ labels }: { labels?: Record<string, string> }) {
  const entries = Object.entries(labels ?? {});
  if (!entries.length) return <span class="muted">–</span>;
  return (
    <ul class="labels">
      {entries.map(([k, v]) => (
        <li key={k}>
          {k}={v}
        </li>
      ))}
    </ul>
  );
}

/** A table's column headings. */
export function GridHead({ cols }: { cols: string[] }) {
  return (
    <thead>
      <tr>
        {cols.map((c) => (
          <th scope="col" key={c}>
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

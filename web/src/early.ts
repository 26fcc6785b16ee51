// Requests of the first load, started as soon as the scripts run: the user info, the permissions and the devices
// page's first page go out together instead of one after the other (the shell needs the first two before it renders
// a page). A component takes a request started here by its key, once; later or different asks go to the API.
import { onSessionChange } from "./api.js";

/** An early answer older than this is not used: the page asks again. */
const FRESH_MS = 5000;
const started = new Map<string, { at: number; answer: Promise<unknown> }>();
// Answers belong to the session that asked (a refused token, a new login).
onSessionChange(() => started.clear());

const keyOf = (key: unknown) => JSON.stringify(key);

/** Starts `fn` now, for whoever asks `early(key, …)` first. */
export function startEarly(key: unknown, fn: () => Promise<unknown>) {
  const answer = fn();
  answer.catch(() => {}); // reported to whoever takes it
  started.set(keyOf(key), { at: Date.now(), answer });
}

/** The answer started early under `key` (once, while fresh), else `fn()`. */
export function early<T>(key: unknown, fn: () => Promise<T>): Promise<T> {
  const k = keyOf(key);
  const e = started.get(k);
  started.delete(k);
  return e && Date.now() - e.at < FRESH_MS ? (e.answer as Promise<T>) : fn();
}

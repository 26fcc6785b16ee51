// The exporter's side of Alertmanager (reads and silences are server/alertmanager/alertmanager-client.ts): posting
// alerts to its API v2 (POST /api/v2/alerts) as flightctl does: batches of 100, a 10 s timeout per request, and
// retries with exponential backoff on network errors and 408/429/500/502/503/504 (other statuses are the request's
// fault: retrying would not help).

/** One alert as the v2 API takes it. An active alert has no endsAt: Alertmanager then keeps it for resolve_timeout. */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
}

export const BATCH_SIZE = 100;
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export interface RetryPolicy {
  /** Attempts per batch (1..10). */
  maxRetries: number;
  /** Backoff before attempt n+1: baseDelayMs × 2^n, at most maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per request. */
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 3, baseDelayMs: 500, maxDelayMs: 10_000, timeoutMs: 10_000 };

/** flightctl's request outcome labels (flightctl_alert_exporter_alertmanager_requests_total{status}). */
export type RequestStatus = "success" | "http_error" | "network_error" | "request_error";

export interface ClientHooks {
  onRequest?(status: RequestStatus, seconds: number): void;
  onRetry?(): void;
}

/** Alertmanager refused or could not be reached after the retries. */
export class AlertmanagerError extends Error {
  override name = "AlertmanagerError";
}

export function createAlertPoster(baseUrl: string, policy: RetryPolicy = DEFAULT_RETRY, hooks: ClientHooks = {}) {
  const url = new URL("api/v2/alerts", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`).href;

  /** One batch, with retries; throws AlertmanagerError when it is not accepted. */
  async function postBatch(batch: readonly PostableAlert[], signal?: AbortSignal): Promise<void> {
    const body = JSON.stringify(batch);
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      const seconds = () => (performance.now() - started) / 1000;
      let retry: string;
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(policy.timeoutMs)]) : AbortSignal.timeout(policy.timeoutMs),
        });
        const text = await res.text();
        if (res.ok) {
          hooks.onRequest?.("success", seconds());
          return;
        }
        hooks.onRequest?.("http_error", seconds());
        if (!RETRY_STATUSES.has(res.status)) throw new AlertmanagerError(`${url}: ${res.status} ${text.trim().slice(0, 200)}`);
        retry = `${res.status}`;
      } catch (err) {
        if (err instanceof AlertmanagerError || signal?.aborted) throw err;
        hooks.onRequest?.("network_error", seconds());
        retry = (err as Error).cause ? String((err as Error & { cause: Error }).cause.message ?? err) : (err as Error).message;
      }
      if (attempt + 1 >= policy.maxRetries)
        throw new AlertmanagerError(`${url}: not accepted after ${policy.maxRetries} attempts (${retry})`);
      hooks.onRetry?.();
      const delay = Math.min(policy.baseDelayMs * 2 ** attempt, policy.maxDelayMs);
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  return {
    url,
    postBatch,
    /** All of `alerts`, BATCH_SIZE at a time; `accepted` runs after each batch Alertmanager took. */
    async post(alerts: readonly PostableAlert[], accepted?: (first: number, count: number) => Promise<void>, signal?: AbortSignal) {
      for (let i = 0; i < alerts.length; i += BATCH_SIZE) {
        const batch = alerts.slice(i, i + BATCH_SIZE);
        await postBatch(batch, signal);
        await accepted?.(i, batch.length);
      }
    },
  };
}

export type AlertPoster = ReturnType<typeof createAlertPoster>;

import { RemoteError } from "./remote-error";

/**
 * Which failures are asked again, and after how long. Ours rather than undici's RetryHandler:
 * its waits ignore the request's AbortSignal, it cannot retry what is judged above the
 * dispatcher (the throughput floor, the range checks), and it resumes broken bodies with a
 * new Range request, which would splice two answers outside those checks.
 */

export interface RetryPolicy {
  /** Further attempts after the first, on retryable failures only. */
  retries: number;
  backoffMs: number;
  backoffMaxMs: number;
  /** Most of a server's Retry-After (429/503) we wait; longer asks are cut to this. Default 15 s. */
  retryAfterMaxMs?: number;
}

const DEFAULT_RETRY_AFTER_MAX_MS = 15_000;
export const DEFAULT_RETRY: RetryPolicy = { retries: 3, backoffMs: 250, backoffMaxMs: 4_000, retryAfterMaxMs: DEFAULT_RETRY_AFTER_MAX_MS };

/** Exponential, with "equal jitter": half fixed, half random, so clients that failed together spread out. */
export function backoffDelay(attempt: number, p: Pick<RetryPolicy, "backoffMs" | "backoffMaxMs">, random = Math.random): number {
  const cap = Math.min(p.backoffMaxMs, p.backoffMs * 2 ** attempt);
  return cap / 2 + random() * (cap / 2);
}

/** The wait before attempt n+1: the backoff, or longer when the server asked for it (capped). */
export function retryDelay(e: RemoteError, attempt: number, p: RetryPolicy, random = Math.random): number {
  const backoff = backoffDelay(attempt, p, random);
  return e.retryAfterMs === undefined ? backoff : Math.max(backoff, Math.min(e.retryAfterMs, p.retryAfterMaxMs ?? DEFAULT_RETRY_AFTER_MAX_MS));
}

export async function withRetries<T>(p: RetryPolicy, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof RemoteError) || !e.retryable || n >= p.retries) throw e;
      await sleep(retryDelay(e, n, p), signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RemoteError("aborted", "(remote)", "cancelled"));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(t);
      reject(new RemoteError("aborted", "(remote)", "cancelled"));
    };
    signal?.addEventListener("abort", stop, { once: true });
  });
}

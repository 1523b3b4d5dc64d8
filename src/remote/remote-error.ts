import { VmsfxError, type NetworkFailure } from "../errors";

/** How a request failed; errors.ts declares which kinds are retryable. */
export type FailureKind = NetworkFailure;

/** One request to a server that failed: a VMSFX_NETWORK error whose traits follow its kind. */
export class RemoteError extends VmsfxError {
  declare readonly failure: FailureKind;
  /** How long the server asked us to wait (Retry-After on a 429 or 503), uncapped. */
  readonly retryAfterMs?: number;
  /** The HTTP status, when the failure was the server's answer (a registry re-authenticates on 401 and 403). */
  readonly status?: number;
  constructor(
    readonly kind: FailureKind,
    readonly url: string,
    reason: string,
    options?: { cause?: unknown; retryAfterMs?: number; status?: number },
  ) {
    super("VMSFX_NETWORK", `${url}: ${reason}`, { cause: options?.cause, reason, details: { url }, failure: kind });
    if (options?.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options?.status !== undefined) this.status = options.status;
  }

  /** Whether asking again later can succeed (the "retryable" trait of its kind). */
  get retryable(): boolean {
    return this.has("retryable");
  }
}

/** A failure before it is tied to the URL it happened at (the request knows that). */
export interface Verdict {
  kind: FailureKind;
  reason: string;
  retryAfterMs?: number;
  status?: number;
}

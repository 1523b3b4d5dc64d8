import * as tls from "node:tls";
import type { Agent as AgentClass, Dispatcher } from "undici";
import { newAgent, request } from "./undici-parts";
import { header, type Headers } from "./range-check";
import { netVerdict } from "./net-errors";
import { RemoteError } from "./remote-error";

/**
 * The requests of the registry API that are not block reads (those go through http-request.ts
 * and its range checks): pings, tokens, manifests, blob checks and uploads. Every answer comes
 * back whatever its status, for registry-client.ts to read the registry's error codes; only a
 * network failure throws (a RemoteError). Bodies are bounded, and every request has a deadline.
 */

export type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface RegistryRequest {
  method: Method;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Longest answer read; a bigger one is cut off (the default suits JSON errors and manifests). */
  maxBytes?: number;
  signal?: AbortSignal;
}

export interface RegistryResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  /** Where the answer came from (a Location is relative to it). */
  url: string;
}

const DEFAULT_MAX = 4 << 20;
/** A chunk of a few MiB at the slowest speed worth waiting for (the same floor as block reads). */
const TIMEOUT_MS = 120_000;
const IDLE_MS = 30_000;

export class RegistryHttp {
  private readonly agent: AgentClass;

  constructor(o: { ca?: string | Buffer; maxSockets?: number } = {}) {
    this.agent = newAgent({
      connections: o.maxSockets ?? 4,
      headersTimeout: IDLE_MS,
      bodyTimeout: IDLE_MS,
      connect: { timeout: IDLE_MS, ...(o.ca ? { ca: [...tls.rootCertificates, o.ca] } : {}) },
    });
  }

  async send(url: string, r: RegistryRequest): Promise<RegistryResponse> {
    const target = new URL(url);
    const deadline = AbortSignal.timeout(TIMEOUT_MS);
    const signal = r.signal ? AbortSignal.any([r.signal, deadline]) : deadline;
    const headers: Record<string, string> = { "user-agent": "vmsfx", "accept-encoding": "identity", ...r.headers };
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.agent, { origin: target.origin, path: `${target.pathname}${target.search}`, method: r.method, headers, body: r.body, signal });
    } catch (e) {
      throw failure(url, e, false, r.signal);
    }
    const max = r.maxBytes ?? DEFAULT_MAX;
    const chunks: Buffer[] = [];
    let received = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        received += chunk.byteLength;
        if (received > max) {
          res.body.destroy();
          throw new RemoteError("too-large", url, `answered more than ${max} bytes; stopped reading`);
        }
        chunks.push(chunk);
      }
    } catch (e) {
      if (e instanceof RemoteError) throw e;
      throw failure(url, e, true, r.signal);
    }
    return { status: res.statusCode, headers: res.headers as Headers, body: Buffer.concat(chunks, received), url };
  }

  close(): void {
    this.agent.destroy().catch(() => undefined);
  }
}

function failure(url: string, e: unknown, answered: boolean, signal?: AbortSignal): RemoteError {
  if (signal?.aborted) return new RemoteError("aborted", url, "cancelled", { cause: e });
  const v = netVerdict(e, answered, IDLE_MS);
  return new RemoteError(v.kind, url, v.reason, { cause: e });
}

/** A response header, or undefined. */
export function headerOf(r: RegistryResponse, name: string): string | undefined {
  return header(r.headers, name);
}

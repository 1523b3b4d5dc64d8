import type { Verdict } from "./remote-error";

/**
 * undici's and the socket's errors in the words a user can act on. `answered`: the headers had
 * arrived, so a failure now is an answer that broke off rather than a server that is not there.
 */
export function netVerdict(e: unknown, answered: boolean, idleMs: number): Verdict {
  const code = errorCode(e);
  // A certificate problem is an answer, not an outage: retrying will not fix it.
  if (isTlsCode(code)) return { kind: "refused", reason: `its TLS certificate is not trusted (${code}); check the address, or the system's certificate store (NODE_EXTRA_CA_CERTS)` };
  const kind = answered ? "interrupted" : "unreachable";
  switch (code) {
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
      return { kind, reason: `stalled: nothing received for ${idleMs} ms` };
    case "UND_ERR_CONNECT_TIMEOUT":
      return { kind, reason: "connection timed out" };
    case "UND_ERR_RES_CONTENT_LENGTH_MISMATCH":
      return { kind: "interrupted", reason: "sent a body that does not match the Content-Length it announced" };
    case "UND_ERR_HEADERS_OVERFLOW":
    case "HPE_INVALID_CONSTANT":
    case "HPE_INVALID_HEADER_TOKEN":
      return { kind: "protocol", reason: `sent a malformed answer (${code})` };
    default:
      return { kind, reason: describe(code, e) };
  }
}

function describe(code: string | undefined, e: unknown): string {
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "server name not found";
    case "ECONNRESET":
      return "connection reset";
    case "ETIMEDOUT":
      return "connection timed out";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "no route to the server";
    case "UND_ERR_SOCKET":
      return "the connection closed early";
    default:
      return code ?? (e instanceof Error ? e.message : String(e));
  }
}

/** The socket's own errno beats undici's wrapper (a reset reaches us as UND_ERR_SOCKET). */
function errorCode(e: unknown): string | undefined {
  const err = e as { code?: string; cause?: { code?: string }; errors?: { code?: string }[] } | undefined;
  const inner = err?.cause?.code ?? err?.errors?.[0]?.code;
  return err?.code === "UND_ERR_SOCKET" && inner ? inner : (err?.code ?? inner);
}

function isTlsCode(code: string | undefined): boolean {
  return /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)/.test(code ?? "");
}

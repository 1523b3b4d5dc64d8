import { VmsfxError } from "../errors";
import { basicAuthorization, findCredentials, parseChallenge, parseToken, tokenUrl, type Challenge, type Credentials, type Token } from "./registry-auth";
import { headerOf, RegistryHttp, type Method, type RegistryRequest, type RegistryResponse } from "./registry-http";
import { apiBase, formatOciReference, type OciReference } from "../snapshot/oci-reference";
import { RemoteError } from "./remote-error";
import { parseRetryAfter } from "./retry-after";
import { backoffDelay, sleep } from "./retry-policy";

/**
 * One repository of one registry, as the distribution API sees it: authentication (learnt from
 * the first 401, so an open registry costs no extra round trip), retries, and the registry's
 * errors turned into ours (registry-errors below). Used by publish (push) and by thin launches
 * (pull; block reads themselves go through http-request.ts, with this client's Authorization).
 */

export interface RegistryOptions {
  push?: boolean;
  /** Other repositories of the same registry blobs may be mounted from (pull access to them). */
  mountFrom?: string[];
  /** Undefined: looked up (VMSFX_REGISTRY_AUTH, ~/.docker/config.json). */
  credentials?: Credentials;
  env?: NodeJS.ProcessEnv;
  http?: RegistryHttp;
}

const RETRIES = 3;
/** A Retry-After longer than this is not waited out: the user is told when to try again. */
const MAX_RETRY_WAIT_MS = 15_000;

export class RegistryClient {
  readonly base: string;
  readonly where: string;
  private readonly http: RegistryHttp;
  private readonly ownHttp: boolean;
  private challenge?: Challenge;
  private token?: Token;
  private renewing?: Promise<Token>;
  private credentials?: Promise<Credentials | undefined>;

  constructor(
    readonly ref: OciReference,
    private readonly o: RegistryOptions = {},
  ) {
    this.base = apiBase(ref);
    this.where = formatOciReference({ ...ref, tag: undefined, digest: undefined });
    this.http = o.http ?? new RegistryHttp();
    this.ownHttp = !o.http;
  }

  /** `v2/<name>/…` as an absolute URL. */
  url(pathInRepo: string): string {
    return `${this.base}${this.ref.repository}/${pathInRepo}`;
  }

  /**
   * The Authorization to send now (undefined until a 401 said one is needed). `refused`: the one
   * a request was just refused with; a new token is asked for unless another request already
   * got one since, so many requests refused at once cost one token request.
   */
  async authorization(refused?: string): Promise<string | undefined> {
    if (!this.challenge) return undefined;
    if (this.challenge.scheme === "basic") {
      const c = await this.creds();
      if (!c) throw denied(this.where, "asks for a user name and password", undefined);
      return basicAuthorization(c);
    }
    const current = this.token && `Bearer ${this.token.value}`;
    if (current && this.token!.expiresAt > Date.now() && current !== refused) return current;
    const challenge = this.challenge;
    this.renewing ??= this.fetchToken(challenge).finally(() => (this.renewing = undefined));
    this.token = await this.renewing;
    return `Bearer ${this.token.value}`;
  }

  /** One API request, authenticated, retried on network trouble (unless `once`), 5xx and short 429s; `ok` statuses are returned, others thrown as our errors. */
  async call(method: Method, url: string, r: Omit<RegistryRequest, "method"> & { ok: number[]; what: string; once?: boolean }): Promise<RegistryResponse> {
    let renewed = false;
    let refused: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.authorization(refused);
      let res: RegistryResponse;
      try {
        res = await this.http.send(url, { ...r, method, headers: { ...r.headers, ...(authorization ? { authorization } : {}) } });
      } catch (e) {
        // `once`: a request that may have half reached the registry (an upload's chunk) is not sent again blindly.
        if (e instanceof RemoteError && e.retryable && !r.once && attempt < RETRIES) {
          await sleep(backoffDelay(attempt, BACKOFF), r.signal);
          continue;
        }
        throw e;
      }
      if (r.ok.includes(res.status)) return res;
      if ((res.status === 401 || res.status === 403) && !renewed) {
        // The first 401 says how to authenticate; a later 401 or 403 is an expired token.
        const challenge = parseChallenge(headerOf(res, "www-authenticate"));
        if (res.status === 401 && challenge) this.challenge = challenge;
        if (this.challenge) {
          renewed = true;
          refused = authorization ?? "";
          continue;
        }
      }
      if (await waitedToRetry(res, attempt, r.signal)) continue;
      throw registryError(res, this.where, r.what, await this.credentialSource());
    }
  }

  close(): void {
    if (this.ownHttp) this.http.close();
  }

  private creds(): Promise<Credentials | undefined> {
    this.credentials ??= this.o.credentials ? Promise.resolve(this.o.credentials) : findCredentials(this.ref.registry, this.o.env);
    return this.credentials;
  }

  private async credentialSource(): Promise<string | undefined> {
    return (await this.creds().catch(() => undefined))?.source;
  }

  private scopes(): string[] {
    const own = `repository:${this.ref.repository}:${this.o.push ? "pull,push" : "pull"}`;
    return [own, ...(this.o.mountFrom ?? []).map((r) => `repository:${r}:pull`)];
  }

  private async fetchToken(c: Extract<Challenge, { scheme: "bearer" }>): Promise<Token> {
    const creds = await this.creds();
    const url = tokenUrl(c, this.scopes());
    for (let attempt = 0; ; attempt++) {
      const res = await this.http.send(url, { method: "GET", headers: creds ? { authorization: basicAuthorization(creds) } : {}, maxBytes: 1 << 20 });
      if (res.status === 200) {
        const token = parseToken(res.body);
        if (!token) throw new RemoteError("protocol", url, "answered without a token");
        return token;
      }
      if (await waitedToRetry(res, attempt)) continue;
      throw registryError(res, this.where, "a token", creds?.source);
    }
  }
}

const BACKOFF = { backoffMs: 300, backoffMaxMs: 4000 };

/** Waits before asking again when the answer is worth it (5xx, a 429 whose Retry-After is short) and tries remain; false otherwise. */
async function waitedToRetry(res: RegistryResponse, attempt: number, signal?: AbortSignal): Promise<boolean> {
  const wait = retryWait(res);
  if (wait === undefined || wait > MAX_RETRY_WAIT_MS || attempt >= RETRIES) return false;
  await sleep(Math.max(wait, backoffDelay(attempt, BACKOFF)), signal);
  return true;
}

/** How long to wait before asking again, for answers worth asking again (5xx, 429); else undefined. */
function retryWait(res: RegistryResponse): number | undefined {
  if (res.status !== 429 && res.status < 500) return undefined;
  return parseRetryAfter(headerOf(res, "retry-after"), Date.now()) ?? 0;
}

/** The registry's own error codes and messages ({"errors": [{code, message}]}), for our message. */
export function registryCodes(body: Buffer): { codes: string[]; text: string } {
  try {
    const errors = (JSON.parse(body.toString("utf8")) as { errors?: { code?: unknown; message?: unknown }[] }).errors ?? [];
    const codes = errors.map((e) => String(e.code ?? "")).filter(Boolean);
    const text = errors.map((e) => [e.code, e.message].filter((x) => typeof x === "string" && x).join(": ")).filter(Boolean).join("; ");
    return { codes, text: text.replace(/[\u0000-\u001f\u007f]/g, " ").slice(0, 300) };
  } catch {
    return { codes: [], text: "" };
  }
}

function denied(where: string, what: string, source: string | undefined): VmsfxError {
  const creds = source ? `the credentials from ${source} were refused` : "no credentials were found";
  return new VmsfxError("VMSFX_REGISTRY_DENIED", `${where} ${what} (${creds}). Log in with \`docker login\` or \`podman login\` (they write ~/.docker/config.json), or set VMSFX_REGISTRY_AUTH=user:token; publishing needs write access to the repository.`);
}

/** A registry's refusal as the error the user sees (codes 63-66 and VMSFX_NETWORK). */
export function registryError(res: RegistryResponse, where: string, what: string, credentialSource: string | undefined): VmsfxError {
  const { codes, text } = registryCodes(res.body);
  const said = text ? ` (${text})` : ` (HTTP ${res.status})`;
  if (res.status === 404 || codes.some((c) => /_UNKNOWN$/.test(c))) {
    return new VmsfxError("VMSFX_REGISTRY_NOT_FOUND", `${where}: ${what} is not there${said}. Check the registry, repository and tag; publish the app there first (vmsfx publish APP --to ${where}:TAG).`);
  }
  if (res.status === 401 || res.status === 403 || codes.includes("DENIED") || codes.includes("UNAUTHORIZED")) return denied(where, `refused access to ${what}${said}`, credentialSource);
  if (res.status === 429 || codes.includes("TOOMANYREQUESTS")) {
    const ms = parseRetryAfter(headerOf(res, "retry-after"), Date.now());
    const when = ms === undefined ? "in a few minutes" : `after ${new Date(Date.now() + ms).toISOString().slice(11, 19)} UTC (in ${Math.ceil(ms / 1000)} s)`;
    return new VmsfxError("VMSFX_REGISTRY_RATE_LIMITED", `${where} is limiting how often this computer may ask${said}. Try again ${when}; logging in usually raises the limit.`, { details: { retryAfterMs: ms } });
  }
  const kind = res.status >= 500 ? "server" : "refused";
  return new RemoteError(kind, res.url, `answered ${res.status} to ${what}${said}`, { status: res.status });
}

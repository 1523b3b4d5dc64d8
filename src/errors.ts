/**
 * Every failure a user can meet is a VmsfxError with a stable `code` and a documented exit code.
 * The CLI prints `vmsfx: <message>` and exits with `exitCode`; anything else is a bug (exit 1).
 * Codes and exit codes are part of the public contract: README.md lists them, never renumber.
 */

export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  fileNotFound: 3,
  io: 4,
  diskFull: 5,
  notABundle: 10,
  truncated: 11,
  corrupt: 12,
  blockHash: 13,
  manifestInvalid: 14,
  unsupportedVersion: 15,
  engineMismatch: 16,
  blockMissing: 17,
  downloadIntegrity: 18,
  recipeInvalid: 20,
  captureTimeout: 21,
  imageInvalid: 22,
  imageArch: 23,
  packageUnknown: 24,
  buildFailed: 25,
  guestFailed: 30,
  stateLocked: 31,
  inputNotRead: 32,
  portUnavailable: 33,
  policyInvalid: 40,
  notYetValid: 41,
  expired: 42,
  launchLimit: 43,
  wrongMachine: 44,
  wrongLocation: 45,
  clockRollback: 46,
  ledgerTampered: 47,
  signatureInvalid: 48,
  signerMismatch: 49,
  passphraseNeeded: 50,
  wrongPassphrase: 51,
  offline: 60,
  remoteFailed: 61,
  updateRefused: 62,
  registryNotFound: 63,
  registryDenied: 64,
  registryRateLimited: 65,
  registryNotVmsfx: 66,
  interrupted: 130,
} as const;

export type ErrorCode =
  | "VMSFX_USAGE"
  | "VMSFX_FILE_NOT_FOUND"
  | "VMSFX_IO"
  | "VMSFX_DISK_FULL"
  | "VMSFX_NOT_A_BUNDLE"
  | "VMSFX_BUNDLE_TRUNCATED"
  | "VMSFX_BUNDLE_CORRUPT"
  | "VMSFX_BLOCK_HASH_MISMATCH"
  | "VMSFX_MANIFEST_INVALID"
  | "VMSFX_UNSUPPORTED_VERSION"
  | "VMSFX_ENGINE_MISMATCH"
  | "VMSFX_BLOCK_MISSING"
  | "VMSFX_RECIPE_INVALID"
  | "VMSFX_CAPTURE_TIMEOUT"
  | "VMSFX_IMAGE_INVALID"
  | "VMSFX_IMAGE_ARCH"
  | "VMSFX_PACKAGE_UNKNOWN"
  | "VMSFX_BUILD_FAILED"
  | "VMSFX_GUEST_FAILED"
  | "VMSFX_STATE_LOCKED"
  | "VMSFX_INPUT_NOT_READ"
  | "VMSFX_PORT_UNAVAILABLE"
  | "VMSFX_DOWNLOAD_INTEGRITY"
  | "VMSFX_POLICY_INVALID"
  | "VMSFX_POLICY_NOT_YET_VALID"
  | "VMSFX_POLICY_EXPIRED"
  | "VMSFX_POLICY_LAUNCH_LIMIT"
  | "VMSFX_POLICY_MACHINE"
  | "VMSFX_POLICY_LOCATION"
  | "VMSFX_POLICY_CLOCK_ROLLBACK"
  | "VMSFX_LEDGER_TAMPERED"
  | "VMSFX_SIGNATURE_INVALID"
  | "VMSFX_SIGNER_MISMATCH"
  | "VMSFX_PASSPHRASE_NEEDED"
  | "VMSFX_WRONG_PASSPHRASE"
  | "VMSFX_OFFLINE"
  | "VMSFX_REMOTE_FAILED"
  | "VMSFX_NETWORK"
  | "VMSFX_UPDATE_REFUSED"
  | "VMSFX_REGISTRY_NOT_FOUND"
  | "VMSFX_REGISTRY_DENIED"
  | "VMSFX_REGISTRY_RATE_LIMITED"
  | "VMSFX_REGISTRY_NOT_VMSFX"
  | "VMSFX_INTERRUPTED";

const EXIT_BY_CODE: Record<ErrorCode, number> = {
  VMSFX_USAGE: EXIT.usage,
  VMSFX_FILE_NOT_FOUND: EXIT.fileNotFound,
  VMSFX_IO: EXIT.io,
  VMSFX_DISK_FULL: EXIT.diskFull,
  VMSFX_NOT_A_BUNDLE: EXIT.notABundle,
  VMSFX_BUNDLE_TRUNCATED: EXIT.truncated,
  VMSFX_BUNDLE_CORRUPT: EXIT.corrupt,
  VMSFX_BLOCK_HASH_MISMATCH: EXIT.blockHash,
  VMSFX_MANIFEST_INVALID: EXIT.manifestInvalid,
  VMSFX_UNSUPPORTED_VERSION: EXIT.unsupportedVersion,
  VMSFX_ENGINE_MISMATCH: EXIT.engineMismatch,
  VMSFX_BLOCK_MISSING: EXIT.blockMissing,
  VMSFX_RECIPE_INVALID: EXIT.recipeInvalid,
  VMSFX_CAPTURE_TIMEOUT: EXIT.captureTimeout,
  VMSFX_IMAGE_INVALID: EXIT.imageInvalid,
  VMSFX_IMAGE_ARCH: EXIT.imageArch,
  VMSFX_PACKAGE_UNKNOWN: EXIT.packageUnknown,
  VMSFX_BUILD_FAILED: EXIT.buildFailed,
  VMSFX_GUEST_FAILED: EXIT.guestFailed,
  VMSFX_STATE_LOCKED: EXIT.stateLocked,
  VMSFX_INPUT_NOT_READ: EXIT.inputNotRead,
  VMSFX_PORT_UNAVAILABLE: EXIT.portUnavailable,
  VMSFX_POLICY_INVALID: EXIT.policyInvalid,
  VMSFX_POLICY_NOT_YET_VALID: EXIT.notYetValid,
  VMSFX_POLICY_EXPIRED: EXIT.expired,
  VMSFX_POLICY_LAUNCH_LIMIT: EXIT.launchLimit,
  VMSFX_POLICY_MACHINE: EXIT.wrongMachine,
  VMSFX_POLICY_LOCATION: EXIT.wrongLocation,
  VMSFX_POLICY_CLOCK_ROLLBACK: EXIT.clockRollback,
  VMSFX_LEDGER_TAMPERED: EXIT.ledgerTampered,
  VMSFX_SIGNATURE_INVALID: EXIT.signatureInvalid,
  VMSFX_SIGNER_MISMATCH: EXIT.signerMismatch,
  VMSFX_PASSPHRASE_NEEDED: EXIT.passphraseNeeded,
  VMSFX_WRONG_PASSPHRASE: EXIT.wrongPassphrase,
  VMSFX_OFFLINE: EXIT.offline,
  VMSFX_REMOTE_FAILED: EXIT.remoteFailed,
  // Exit 4, as when it was still a VMSFX_IO: its own code must not renumber what users see.
  VMSFX_NETWORK: EXIT.io,
  VMSFX_UPDATE_REFUSED: EXIT.updateRefused,
  VMSFX_REGISTRY_NOT_FOUND: EXIT.registryNotFound,
  VMSFX_REGISTRY_DENIED: EXIT.registryDenied,
  VMSFX_REGISTRY_RATE_LIMITED: EXIT.registryRateLimited,
  VMSFX_REGISTRY_NOT_VMSFX: EXIT.registryNotVmsfx,
  VMSFX_DOWNLOAD_INTEGRITY: EXIT.downloadIntegrity,
  VMSFX_INTERRUPTED: EXIT.interrupted,
};

/**
 * What a caller may do about an error, declared once per code so no module keeps its own list:
 * - damage: the bytes read are not what their writer wrote (cut short, altered, incomplete).
 *   Reading them again gives the same answer; a copy of their own (a resume point) can be set aside.
 * - retryable: the network may answer next time; asking again later can succeed.
 * - recoverable: a launch can go on without what failed (the guest's disk driver retries a read;
 *   `--update` runs the version already here).
 * - storage: the local disk would not take the bytes (full, read-only, no permission). A cache
 *   that only saves downloads may ignore it.
 */
export type ErrorTrait = "damage" | "retryable" | "recoverable" | "storage";

const TRAITS_BY_CODE: Partial<Record<ErrorCode, readonly ErrorTrait[]>> = {
  VMSFX_IO: ["storage"],
  VMSFX_DISK_FULL: ["storage"],
  VMSFX_BUNDLE_TRUNCATED: ["damage"],
  VMSFX_BUNDLE_CORRUPT: ["damage"],
  VMSFX_BLOCK_HASH_MISMATCH: ["damage"],
  VMSFX_MANIFEST_INVALID: ["damage"],
  VMSFX_BLOCK_MISSING: ["damage"],
  VMSFX_OFFLINE: ["retryable", "recoverable"],
  VMSFX_REMOTE_FAILED: ["retryable", "recoverable"],
  VMSFX_REGISTRY_RATE_LIMITED: ["retryable"],
};

/**
 * How one request to a server failed (a VMSFX_NETWORK error's `failure`). unreachable: nothing
 * answered (refused, DNS, no headers in time). interrupted: the answer broke off. server:
 * 5xx/408/429. The rest are answers that will not get better by asking again.
 */
export type NetworkFailure = "unreachable" | "interrupted" | "server" | "not-found" | "refused" | "protocol" | "too-large" | "mismatch" | "aborted";

/**
 * A VMSFX_NETWORK error's traits, by how the request failed. None is recoverable: one request
 * failing is what VMSFX_OFFLINE / VMSFX_REMOTE_FAILED sum up once every server was asked.
 */
const TRAITS_BY_NETWORK_FAILURE: Record<NetworkFailure, readonly ErrorTrait[]> = {
  unreachable: ["retryable"],
  interrupted: ["retryable"],
  server: ["retryable"],
  "not-found": [],
  refused: [],
  protocol: [],
  "too-large": [],
  mismatch: [],
  aborted: [],
};

/**
 * The traits of a code (see ErrorTrait), and for VMSFX_NETWORK of how the request failed; the
 * tables above are the only place they are decided.
 */
export function traitsOf(code: ErrorCode, failure?: NetworkFailure): readonly ErrorTrait[] {
  if (code === "VMSFX_NETWORK" && failure !== undefined) return TRAITS_BY_NETWORK_FAILURE[failure];
  return TRAITS_BY_CODE[code] ?? [];
}

/** Every code of the closed table (for the test that holds the README to it). */
export function errorCodes(): ErrorCode[] {
  return Object.keys(EXIT_BY_CODE) as ErrorCode[];
}

export function exitCodeOf(code: ErrorCode): number {
  return EXIT_BY_CODE[code];
}

export interface VmsfxErrorOptions {
  cause?: unknown;
  /**
   * What went wrong in a few words, without the place or the advice: what another message quotes
   * when it wraps this error. Defaults to the message without its final period.
   */
  reason?: string;
  /** Facts for programs and tests (a path, a URL, a block hash), never parsed out of the message. */
  details?: Readonly<Record<string, unknown>>;
  /** VMSFX_NETWORK: how the request failed, which decides the error's traits. */
  failure?: NetworkFailure;
}

export class VmsfxError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly reason: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly failure?: NetworkFailure;

  constructor(code: ErrorCode, message: string, options: VmsfxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "VmsfxError";
    this.code = code;
    this.exitCode = EXIT_BY_CODE[code];
    this.reason = options.reason ?? message.replace(/\.$/, "");
    this.details = options.details ?? {};
    if (options.failure !== undefined) this.failure = options.failure;
  }

  has(trait: ErrorTrait): boolean {
    return traitsOf(this.code, this.failure).includes(trait);
  }

  /** The same failure said from further out ("<context>: <message>"), same code, this as its cause. */
  withContext(context: string): VmsfxError {
    return new VmsfxError(this.code, `${context}: ${this.message}`, { cause: this, reason: this.reason, details: this.details, failure: this.failure });
  }
}

export function isVmsfxError(e: unknown): e is VmsfxError {
  return e instanceof VmsfxError;
}

/** True for a VmsfxError whose code has the trait; false for anything else (a bug is none of them). */
export function hasTrait(e: unknown, trait: ErrorTrait): e is VmsfxError {
  return e instanceof VmsfxError && e.has(trait);
}

/** Maps Node's filesystem errors to coded ones so no errno ever reaches a user raw. */
export function fromFsError(e: unknown, path: string, doing: string): VmsfxError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT") {
    return new VmsfxError("VMSFX_FILE_NOT_FOUND", `${path}: no such file (while ${doing}). Check the path.`, { cause: e });
  }
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new VmsfxError("VMSFX_DISK_FULL", `${path}: disk full (while ${doing}). Free some space and try again; nothing was replaced.`, { cause: e });
  }
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return new VmsfxError("VMSFX_IO", `${path}: permission denied or read-only (while ${doing}).`, { cause: e });
  }
  if (code === "EISDIR") {
    return new VmsfxError("VMSFX_IO", `${path}: is a directory (while ${doing}).`, { cause: e });
  }
  const detail = e instanceof Error ? e.message : String(e);
  return new VmsfxError("VMSFX_IO", `${path}: ${detail} (while ${doing}).`, { cause: e });
}

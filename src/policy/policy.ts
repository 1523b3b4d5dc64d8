import type { Policy } from "../snapshot/policy-schema";

// The schema lives with the format (the manifest holds the policy); enforcing it lives here.
export {
  DEFAULT_CLOCK_TOLERANCE_MINUTES,
  MAX_MESSAGE_CHARS,
  MAX_SESSION_MINUTES,
  MAX_VALID_DAYS,
  parseIsoDateTime,
  validatePolicy,
  type Policy,
} from "../snapshot/policy-schema";

/** True when the policy restricts anything at launch (a policy with only message/url/signer does not). */
export function restrictsLaunch(p: Policy): boolean {
  return p.notBefore !== undefined || p.notAfter !== undefined || p.validDaysAfterFirstLaunch !== undefined ||
    p.maxLaunches !== undefined || p.maxSessionMinutes !== undefined || p.machines !== undefined || p.bindToFirstLocation === true;
}

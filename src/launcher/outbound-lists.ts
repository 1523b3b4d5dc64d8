import type { Manifest } from "../snapshot/manifest";

/**
 * What the guest may connect to, as the rule lists the engine checks (every list must allow a
 * connection; engine/outbound-rules.ts): the app's own rules, narrowed by the signed policy's,
 * and by the user's `--no-network` to nothing. Undefined when the app has no way out at all.
 */
export function outboundLists(m: Manifest, userAllows: boolean): string[][] | undefined {
  const own = m.app?.outbound;
  if (!own?.length) return undefined;
  const lists = [own];
  if (m.policy?.outbound) lists.push(m.policy.outbound);
  if (!userAllows) lists.push([]);
  return lists;
}

/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns the wait in ms from
 * `now` (0 for a date already past), or undefined for a missing or malformed value. Uncapped:
 * the retry policy decides how much of it to honour.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000;
  // Only the date forms HTTP allows; Date.parse alone would also take "5" or "tomorrow"-ish junk.
  if (!/^[A-Za-z]{3,9}, /.test(v) && !/^[A-Za-z]{3} [A-Za-z]{3} /.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * What JSON.parse does not check in a manifest, found in one pass over the text, before it is
 * parsed:
 *
 * - Depth. V8 parses deep nesting in time that grows faster than the input: 10 MB of `[` takes
 *   seconds, a 32 MiB manifest most of a minute. No manifest nests more than a few levels, so
 *   the scan stops at `maxDepth` and the text is never handed to JSON.parse.
 * - Repeated keys. JSON.parse keeps the last of two equal keys; other parsers keep the first or
 *   refuse. A signed document that means different things to different readers is a known way
 *   around a signature, so a manifest with a repeated key is refused.
 *
 * The scan only tracks strings, brackets and commas (syntax is JSON.parse's job) and never
 * recurses, so hostile text cannot overflow the stack here either.
 */
export interface JsonShape {
  /** Deepest nesting seen; maxDepth + 1 when the scan stopped because it went deeper. */
  depth: number;
  /** The first repeated key, with the path of the object holding it. */
  duplicate?: { key: string; path: string };
}

export function jsonShape(json: string, maxDepth: number): JsonShape {
  // One frame per open object or array: the keys seen so far (objects only) and the path for messages.
  const stack: { keys: Set<string> | null; path: string; expectKey: boolean; lastKey: string }[] = [];
  let depth = 0;
  let duplicate: JsonShape["duplicate"];
  let i = 0;
  while (i < json.length) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(json, i);
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const key = keyText(json.slice(i, end + 1));
        if (top.keys.has(key)) duplicate ??= { key, path: top.path };
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = end + 1;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length === maxDepth) return { depth: maxDepth + 1, duplicate };
      const top = stack[stack.length - 1];
      const path = !top ? "(root)" : top.keys ? `${top.path}.${top.lastKey}` : `${top.path}[]`;
      stack.push({ keys: c === 0x7b ? new Set() : null, path, expectKey: c === 0x7b, lastKey: "" });
      depth = Math.max(depth, stack.length);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
    i++;
  }
  return { depth, duplicate };
}

/** A key's value: escapes decoded so "a" and "\u0061" are the same key. */
function keyText(quoted: string): string {
  if (!quoted.includes("\\")) return quoted.slice(1, -1);
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return quoted; // not valid JSON; JSON.parse will refuse the whole text
  }
}

/** Index of the closing quote of the string that opens at `start` (the last index if none). */
function stringEnd(s: string, start: number): number {
  let j = start + 1;
  for (;;) {
    const q = s.indexOf('"', j);
    if (q < 0) return s.length - 1;
    // The quote is escaped when an odd number of backslashes precede it.
    let k = q - 1;
    while (s.charCodeAt(k) === 0x5c) k--;
    if ((q - 1 - k) % 2 === 0) return q;
    j = q + 1;
  }
}

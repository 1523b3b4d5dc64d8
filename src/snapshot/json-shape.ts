/**
 * JSON.parse keeps the last of two equal keys; other parsers keep the first or refuse. A signed
 * document that means different things to different readers is a known way around a signature,
 * so the manifest refuses duplicates outright. This scans text JSON.parse has already accepted,
 * so it only tracks nesting and keys; it never recurses (a deeply nested input cannot overflow
 * the stack) and it runs in one pass.
 *
 * Returns the first repeated key with the path of the object holding it, or undefined.
 */
export function findDuplicateKey(json: string): { key: string; path: string } | undefined {
  // One frame per open object or array: the keys seen so far (objects only) and the path for messages.
  const stack: { keys: Set<string> | null; path: string; expectKey: boolean; lastKey: string }[] = [];
  let i = 0;
  while (i < json.length) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(json, i);
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const raw = json.slice(i, end + 1);
        const key = raw.includes("\\") ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (top.keys.has(key)) return { key, path: top.path };
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = end + 1;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const top = stack[stack.length - 1];
      const path = !top ? "(root)" : top.keys ? `${top.path}.${top.lastKey}` : `${top.path}[]`;
      stack.push({ keys: c === 0x7b ? new Set() : null, path, expectKey: c === 0x7b, lastKey: "" });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
    i++;
  }
  return undefined;
}

/** Index of the closing quote of the string that opens at `start`. */
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

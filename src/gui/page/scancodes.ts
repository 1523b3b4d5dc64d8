/** Keys as the guest's PS/2 keyboard understands them (the console pane's keys are xterm.js's). */

/** KeyboardEvent.code to PS/2 scancode set 1 (0xE0xx: extended). */
export const SCANCODES: Readonly<Record<string, number>> = buildScancodes();

function buildScancodes(): Record<string, number> {
  const scan: Record<string, number> = {
    Escape: 0x01, Minus: 0x0c, Equal: 0x0d, Backspace: 0x0e, Tab: 0x0f,
    BracketLeft: 0x1a, BracketRight: 0x1b, Enter: 0x1c, ControlLeft: 0x1d, Semicolon: 0x27, Quote: 0x28,
    Backquote: 0x29, ShiftLeft: 0x2a, Backslash: 0x2b, Comma: 0x33, Period: 0x34, Slash: 0x35,
    ShiftRight: 0x36, NumpadMultiply: 0x37, AltLeft: 0x38, Space: 0x39, CapsLock: 0x3a,
    NumLock: 0x45, ScrollLock: 0x46, Numpad7: 0x47, Numpad8: 0x48, Numpad9: 0x49, NumpadSubtract: 0x4a,
    Numpad4: 0x4b, Numpad5: 0x4c, Numpad6: 0x4d, NumpadAdd: 0x4e, Numpad1: 0x4f, Numpad2: 0x50,
    Numpad3: 0x51, Numpad0: 0x52, NumpadDecimal: 0x53, IntlBackslash: 0x56, F11: 0x57, F12: 0x58,
    NumpadEnter: 0xe01c, ControlRight: 0xe01d, NumpadDivide: 0xe035, AltRight: 0xe038, Home: 0xe047,
    ArrowUp: 0xe048, PageUp: 0xe049, ArrowLeft: 0xe04b, ArrowRight: 0xe04d, End: 0xe04f,
    ArrowDown: 0xe050, PageDown: 0xe051, Insert: 0xe052, Delete: 0xe053, MetaLeft: 0xe05b,
    MetaRight: 0xe05c, ContextMenu: 0xe05d,
  };
  "1234567890".split("").forEach((d, i) => (scan[`Digit${d}`] = 0x02 + i));
  ["QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM"].forEach((row, r) => {
    row.split("").forEach((k, i) => (scan[`Key${k}`] = [0x10, 0x1e, 0x2c][r] + i));
  });
  for (let f = 1; f <= 10; f++) scan[`F${f}`] = 0x3a + f;
  return scan;
}

/** The bytes of one press or release (a release sets the top bit of the last byte). */
export function scancodeBytes(scan: number, down: boolean): number[] {
  const codes = scan > 0xff ? [0xe0, scan & 0xff] : [scan];
  if (!down) codes[codes.length - 1] |= 0x80;
  return codes;
}

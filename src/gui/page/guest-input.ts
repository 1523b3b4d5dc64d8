import type { PageRequest } from "../page-protocol";
import { SCANCODES, scancodeBytes } from "./scancodes";

/**
 * The page's input to the guest from the screen: keys typed on it go to the PS/2 keyboard and
 * the mouse over it is the PS/2 mouse. (Keys typed in the console pane are the terminal
 * emulator's, console-pane.ts.)
 */

export type Send = (request: PageRequest) => void;

export function wireKeyboard(canvas: HTMLCanvasElement, send: Send): void {
  // Keys held down, so leaving the screen releases them in the guest too.
  let pressed: Record<string, number> = {};
  const onKey = (e: KeyboardEvent, down: boolean) => {
    const scan = SCANCODES[e.code];
    if (scan === undefined) return;
    e.preventDefault();
    if (!down && !pressed[e.code]) return;
    if (down) pressed[e.code] = scan;
    else delete pressed[e.code];
    send({ t: "keys", codes: scancodeBytes(scan, down) });
  };
  canvas.addEventListener("keydown", (e) => onKey(e, true));
  canvas.addEventListener("keyup", (e) => onKey(e, false));
  canvas.addEventListener("blur", () => {
    Object.keys(pressed).forEach((code) => send({ t: "keys", codes: scancodeBytes(pressed[code], false) }));
    pressed = {};
  });
}

export function wireMouse(canvas: HTMLCanvasElement, send: Send): void {
  // Relative motion, as a PS/2 mouse reports it, gathered per animation frame.
  let moveX = 0;
  let moveY = 0;
  let moveQueued = false;
  const buttons = [false, false, false];
  canvas.addEventListener("mousemove", (e) => {
    const scale = canvas.width / canvas.getBoundingClientRect().width || 1;
    moveX += e.movementX * scale;
    moveY += e.movementY * scale;
    if (moveQueued) return;
    moveQueued = true;
    requestAnimationFrame(() => {
      moveQueued = false;
      const dx = Math.round(moveX);
      const dy = Math.round(moveY);
      moveX -= dx;
      moveY -= dy;
      if (dx || dy) send({ t: "mouse", dx, dy });
    });
  });
  const onButton = (e: MouseEvent, down: boolean) => {
    const i = e.button === 0 ? 0 : e.button === 1 ? 1 : e.button === 2 ? 2 : -1;
    if (i < 0) return;
    canvas.focus();
    // A graphical guest draws its own pointer: capture the mouse (Escape releases it).
    if (down && canvas.dataset.mode === "graphical" && document.pointerLockElement !== canvas && canvas.requestPointerLock) {
      try {
        canvas.requestPointerLock();
      } catch {
        // Not allowed here: plain motion still works.
      }
    }
    e.preventDefault();
    buttons[i] = down;
    send({ t: "mouse", dx: 0, dy: 0, buttons: buttons.slice() });
  };
  canvas.addEventListener("mousedown", (e) => onButton(e, true));
  canvas.addEventListener("mouseup", (e) => onButton(e, false));
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener(
    "wheel",
    (e) => {
      e.preventDefault();
      if (e.deltaY) send({ t: "mouse", dx: 0, dy: 0, wheel: e.deltaY > 0 ? 1 : -1 });
    },
    { passive: false },
  );
}

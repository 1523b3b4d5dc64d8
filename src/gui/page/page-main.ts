import { MSG_GRAPHICS, MSG_SERIAL, MSG_TEXT, type PageNotice, type PageRequest } from "../page-protocol";
import { ConsolePane } from "./console-pane";
import { wireKeyboard, wireMouse } from "./guest-input";
import { ScreenCanvas } from "./screen-canvas";

/**
 * The browser window's script (runs in the page, not in Node): one WebSocket back to the
 * launcher that served the page, carrying the page's token. Bundled by build-scripts into the
 * launcher, which inlines it into the page (page.ts).
 */

/** Typed or pasted text per message; the launcher takes up to 64 KiB. */
const SERIAL_CHUNK = 16 * 1024;

function byId<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

const token = new URLSearchParams(location.search).get("t") || "";
// Read while this script runs: the nonce the page's policy admits, for the <style> elements the
// console's terminal adds.
const nonce = (document.currentScript as HTMLScriptElement | null)?.nonce || "";
const canvas = byId<HTMLCanvasElement>("screen");
const statusEl = byId("status");
const suspendButton = byId<HTMLButtonElement>("suspend");
const screen = new ScreenCanvas(canvas, byId("screen-text"));
let ws: WebSocket | undefined;
let stopped = false;
const consolePane = new ConsolePane(byId("console"), {
  nonce,
  onData: (data) => {
    // A large paste goes in pieces the launcher accepts (page-input.ts), never splitting a surrogate pair.
    for (let at = 0; at < data.length; ) {
      let end = Math.min(data.length, at + SERIAL_CHUNK);
      const last = data.charCodeAt(end - 1);
      if (end < data.length && last >= 0xd800 && last <= 0xdbff) end--;
      send({ t: "serial", data: data.slice(at, end) });
      at = end;
    }
  },
  onResize: (rows, cols) => send({ t: "winsize", rows, cols }),
});

function setStatus(text: string, isStopped: boolean): void {
  statusEl.textContent = text;
  statusEl.className = isStopped ? "stopped" : "";
}

function send(request: PageRequest): void {
  if (ws && ws.readyState === WebSocket.OPEN && !stopped) ws.send(JSON.stringify(request));
}

function receive(data: string | ArrayBuffer): void {
  if (typeof data === "string") {
    const m = JSON.parse(data) as PageNotice;
    if (m.t === "bye") {
      stopped = true;
      setStatus(m.message, true);
      suspendButton.disabled = true;
    }
    return;
  }
  const bytes = new Uint8Array(data);
  const dv = new DataView(data);
  if (bytes[0] === MSG_TEXT) screen.drawText(dv, bytes);
  else if (bytes[0] === MSG_SERIAL) consolePane.write(bytes.subarray(1));
  else if (bytes[0] === MSG_GRAPHICS) screen.drawGraphics(dv, bytes);
}

function connect(): void {
  ws = new WebSocket(`ws://${location.host}/ws?t=${encodeURIComponent(token)}`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    setStatus("running", false);
    // The guest's console takes the pane's size from now on (sizes sent before this were dropped).
    send({ t: "winsize", rows: consolePane.rows, cols: consolePane.cols });
  };
  ws.onmessage = (ev: MessageEvent<string | ArrayBuffer>) => receive(ev.data);
  ws.onclose = () => {
    if (!stopped) setStatus("disconnected: the app was closed", true);
    suspendButton.disabled = true;
    stopped = true;
  };
}

wireKeyboard(canvas, send);
wireMouse(canvas, send);
suspendButton.addEventListener("click", () => {
  send({ t: "suspend" });
  setStatus("suspending…", true);
});
connect();
canvas.focus();

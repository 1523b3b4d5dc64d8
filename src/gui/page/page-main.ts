import { MSG_GRAPHICS, MSG_SERIAL, MSG_TEXT, type PageNotice, type PageRequest } from "../page-protocol";
import { ConsolePane } from "./console-pane";
import { wireConsoleInput, wireKeyboard, wireMouse } from "./guest-input";
import { ScreenCanvas } from "./screen-canvas";

/**
 * The browser window's script (runs in the page, not in Node): one WebSocket back to the
 * launcher that served the page, carrying the page's token. Bundled by build-scripts into the
 * launcher, which inlines it into the page (page.ts).
 */

function byId<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

const token = new URLSearchParams(location.search).get("t") || "";
const canvas = byId<HTMLCanvasElement>("screen");
const statusEl = byId("status");
const suspendButton = byId<HTMLButtonElement>("suspend");
const screen = new ScreenCanvas(canvas, byId("screen-text"));
const consoleEl = byId("console");
const consolePane = new ConsolePane(consoleEl);
let ws: WebSocket | undefined;
let stopped = false;

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
  ws.onopen = () => setStatus("running", false);
  ws.onmessage = (ev: MessageEvent<string | ArrayBuffer>) => receive(ev.data);
  ws.onclose = () => {
    if (!stopped) setStatus("disconnected: the app was closed", true);
    suspendButton.disabled = true;
    stopped = true;
  };
}

wireConsoleInput(consoleEl, send);
wireKeyboard(canvas, send);
wireMouse(canvas, send);
suspendButton.addEventListener("click", () => {
  send({ t: "suspend" });
  setStatus("suspending…", true);
});
connect();
canvas.focus();

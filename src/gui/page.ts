/**
 * The browser window's page; its script (page-asset.ts) is inlined so the one-file executable
 * carries it with no extra asset.
 * The screen is a canvas (text mode drawn cell by cell, graphics as pixels); the same text is
 * kept in an off-screen element for screen readers, copying and tests. The console pane is a
 * terminal emulator (xterm.js, in the script) on the serial port. Keys typed on the screen go to
 * the PS/2 keyboard, keys typed in the console to the serial port; the mouse over the screen is
 * the PS/2 mouse.
 */

export function guiPage(title: string, nonce: string, script: string): string {
  const t = escapeHtml(title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${t} — vmsfx</title>
<style nonce="${nonce}">
  :root { color-scheme: dark; }
  body { margin: 0; background: #1b1b1b; color: #ddd; font: 14px system-ui, sans-serif; display: flex; flex-direction: column; height: 100vh; }
  header { display: flex; align-items: center; gap: 1em; padding: 6px 12px; background: #262626; border-bottom: 1px solid #333; }
  header h1 { font-size: 15px; margin: 0; font-weight: 600; }
  #status { color: #9a9; flex: 1; }
  #status.stopped { color: #d88; }
  button { background: #3a3a3a; color: #eee; border: 1px solid #555; border-radius: 4px; padding: 4px 10px; cursor: pointer; }
  button:disabled { opacity: 0.5; cursor: default; }
  main { flex: 1; display: flex; flex-direction: column; gap: 8px; padding: 8px; min-height: 0; }
  .pane-title { font-size: 12px; color: #888; margin: 0 0 2px; }
  #screen-wrap { flex: 3; min-height: 0; display: flex; flex-direction: column; }
  #screen { background: #000; max-width: 100%; max-height: 100%; object-fit: contain; image-rendering: pixelated; outline: none; border: 2px solid #333; align-self: flex-start; cursor: default; }
  #screen:focus { border-color: #5a8; }
  #console-wrap { flex: 2; min-height: 0; display: flex; flex-direction: column; }
  #console { flex: 1; min-height: 0; position: relative; background: #0c0c0c; border: 2px solid #333; }
  #console:focus-within { border-color: #5a8; }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: pre; }
</style>
</head>
<body>
<header>
  <h1 id="title">${t}</h1>
  <span id="status" role="status">connecting…</span>
  <button id="suspend" type="button" title="Save the guest as it is and close the app">Suspend and quit</button>
</header>
<main>
  <section id="screen-wrap" aria-label="Guest screen">
    <p class="pane-title">Screen — click it, then type (PS/2 keyboard and mouse; in graphics modes a click captures the mouse, Escape releases it)</p>
    <canvas id="screen" tabindex="0" width="720" height="400"></canvas>
    <pre id="screen-text" class="sr-only" aria-live="off"></pre>
  </section>
  <section id="console-wrap" aria-label="Serial console">
    <p class="pane-title">Console — click it, then type (serial port)</p>
    <div id="console"></div>
  </section>
</main>
<script nonce="${nonce}">${script}</script>
</body>
</html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

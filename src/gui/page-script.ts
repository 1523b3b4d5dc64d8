/**
 * The browser window's script (runs in the page, not in Node). Plain ES2020 in a raw string so
 * the executable needs no asset; it must not contain backticks, "${" or a closing script tag.
 */
export const PAGE_SCRIPT = String.raw`
"use strict";
(function () {
  var token = new URLSearchParams(location.search).get("t") || "";
  var canvas = document.getElementById("screen");
  var ctx = canvas.getContext("2d", { alpha: false });
  var screenText = document.getElementById("screen-text");
  var consoleEl = document.getElementById("console");
  var statusEl = document.getElementById("status");
  var ws;
  var stopped = false;

  function setStatus(text, isStopped) {
    statusEl.textContent = text;
    statusEl.className = isStopped ? "stopped" : "";
  }

  // Code page 437 as the VGA's font draws it.
  var CP437 = Array.from(
    "\u00a0☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼" +
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_" +
    "\u0060abcdefghijklmnopqrstuvwxyz{|}~⌂" +
    "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»" +
    "░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀" +
    "αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0"
  );

  // ---- screen ----
  var CELL_W = 9, CELL_H = 16;
  var FONT = "15px 'DejaVu Sans Mono', ui-monospace, monospace";
  var image = null;

  function hex(r, g, b) {
    return "rgb(" + r + "," + g + "," + b + ")";
  }

  function drawText(dv, bytes) {
    var cols = dv.getUint16(1, true), rows = dv.getUint16(3, true);
    var crow = dv.getUint16(5, true), ccol = dv.getUint16(7, true), cvis = bytes[9] === 1;
    var n = cols * rows, chars = 10, fg = 10 + n, bg = 10 + 4 * n;
    if (canvas.width !== cols * CELL_W || canvas.height !== rows * CELL_H) {
      canvas.width = cols * CELL_W;
      canvas.height = rows * CELL_H;
    }
    image = null;
    ctx.textBaseline = "top";
    ctx.font = FONT;
    var lines = [];
    for (var r = 0; r < rows; r++) {
      var line = "";
      for (var c = 0; c < cols; c++) {
        var i = r * cols + c;
        var ch = CP437[bytes[chars + i]];
        ctx.fillStyle = hex(bytes[bg + 3 * i], bytes[bg + 3 * i + 1], bytes[bg + 3 * i + 2]);
        ctx.fillRect(c * CELL_W, r * CELL_H, CELL_W, CELL_H);
        if (ch !== "\u00a0" && ch !== " ") {
          ctx.fillStyle = hex(bytes[fg + 3 * i], bytes[fg + 3 * i + 1], bytes[fg + 3 * i + 2]);
          ctx.fillText(ch, c * CELL_W, r * CELL_H + 1, CELL_W);
        }
        line += ch === "\u00a0" ? " " : ch;
      }
      lines.push(line.replace(/\s+$/, ""));
    }
    if (cvis && crow < rows && ccol < cols) {
      var ci = crow * cols + ccol;
      ctx.fillStyle = hex(bytes[fg + 3 * ci], bytes[fg + 3 * ci + 1], bytes[fg + 3 * ci + 2]);
      ctx.fillRect(ccol * CELL_W, crow * CELL_H + CELL_H - 3, CELL_W, 2);
    }
    screenText.textContent = lines.join("\n");
    canvas.dataset.mode = "text";
  }

  function drawGraphics(dv, bytes) {
    var w = dv.getUint16(1, true), h = dv.getUint16(3, true), y = dv.getUint16(5, true);
    if (!image || image.width !== w || image.height !== h) {
      canvas.width = w;
      canvas.height = h;
      image = ctx.createImageData(w, h);
      screenText.textContent = "";
    }
    var rgba = bytes.subarray(7);
    var rowsIn = Math.min(h - y, Math.floor(rgba.length / (w * 4)));
    image.data.set(rgba.subarray(0, rowsIn * w * 4), y * w * 4);
    ctx.putImageData(image, 0, 0, 0, y, w, rowsIn);
    canvas.dataset.mode = "graphical";
  }

  // ---- console: a small terminal for the serial port ----
  var MAX_LINES = 2000;
  var done = [];
  var cur = [];
  var col = 0;
  var escState = 0; // 0 text, 1 after ESC, 2 CSI, 3 OSC
  var csi = "";
  var decoder = new TextDecoder("utf-8");
  var renderQueued = false;

  function put(ch) {
    while (cur.length < col) cur.push(" ");
    cur[col] = ch;
    col++;
  }
  function newline() {
    done.push(cur.join(""));
    if (done.length > MAX_LINES) done.splice(0, done.length - MAX_LINES);
    cur = [];
    col = 0;
  }
  function runCsi(seq) {
    var final = seq.charAt(seq.length - 1);
    var n = parseInt(seq, 10);
    if (isNaN(n)) n = 0;
    if (final === "K") {
      if (n === 0) cur.length = Math.min(cur.length, col);
      else if (n === 2) cur = [];
    } else if (final === "D") col = Math.max(0, col - (n || 1));
    else if (final === "C") col += n || 1;
    else if (final === "G") col = Math.max(0, (n || 1) - 1);
    else if (final === "J" && n === 2) { done = []; cur = []; col = 0; }
  }
  function feed(text) {
    for (var k = 0; k < text.length; k++) {
      var ch = text.charAt(k), code = text.charCodeAt(k);
      if (escState === 1) {
        escState = ch === "[" ? 2 : ch === "]" ? 3 : 0;
        csi = "";
        continue;
      }
      if (escState === 2) {
        csi += ch;
        if (code >= 0x40 && code <= 0x7e) { escState = 0; runCsi(csi); }
        continue;
      }
      if (escState === 3) {
        if (code === 7) escState = 0;
        else if (code === 0x1b) escState = 1;
        continue;
      }
      if (code === 0x1b) escState = 1;
      else if (ch === "\n") newline();
      else if (ch === "\r") col = 0;
      else if (code === 8) col = Math.max(0, col - 1);
      else if (ch === "\t") { do put(" "); while (col % 8); }
      else if (code >= 0x20 && code !== 0x7f) put(ch);
    }
    if (!renderQueued) {
      renderQueued = true;
      requestAnimationFrame(renderConsole);
    }
  }
  function renderConsole() {
    renderQueued = false;
    var atBottom = consoleEl.scrollTop + consoleEl.clientHeight >= consoleEl.scrollHeight - 4;
    var before = cur.slice(0, col).join("");
    while (before.length < col) before += " ";
    var under = cur[col] || " ";
    var after = cur.slice(col + 1).join("");
    consoleEl.textContent = "";
    consoleEl.appendChild(document.createTextNode(done.join("\n") + (done.length ? "\n" : "") + before));
    var cursor = document.createElement("span");
    cursor.className = "cursor";
    cursor.textContent = under;
    consoleEl.appendChild(cursor);
    consoleEl.appendChild(document.createTextNode(after));
    if (atBottom) consoleEl.scrollTop = consoleEl.scrollHeight;
  }

  // ---- input ----
  function send(obj) {
    if (ws && ws.readyState === 1 && !stopped) ws.send(JSON.stringify(obj));
  }

  var SPECIAL = {
    Enter: "\r", Backspace: "\x7f", Tab: "\t", Escape: "\x1b",
    ArrowUp: "\x1b[A", ArrowDown: "\x1b[B", ArrowRight: "\x1b[C", ArrowLeft: "\x1b[D",
    Home: "\x1b[H", End: "\x1b[F", Delete: "\x1b[3~", PageUp: "\x1b[5~", PageDown: "\x1b[6~", Insert: "\x1b[2~"
  };
  consoleEl.addEventListener("keydown", function (e) {
    var data = null;
    if (e.ctrlKey && !e.altKey && !e.metaKey && e.key.length === 1) {
      var k = e.key.toLowerCase();
      // The browser keeps Ctrl-Shift-anything, Ctrl-V (paste) and Ctrl-C over a selection (copy).
      if (e.shiftKey || k === "v" || (k === "c" && String(getSelection()).length > 0)) return;
      var c = e.key.toUpperCase().charCodeAt(0);
      if (c >= 0x40 && c <= 0x5f) data = String.fromCharCode(c - 0x40);
      else if (e.key === " ") data = "\x00";
    } else if (!e.ctrlKey && !e.metaKey && e.key.length === 1) {
      data = (e.altKey ? "\x1b" : "") + e.key;
    } else if (SPECIAL[e.key]) {
      data = SPECIAL[e.key];
    }
    if (data === null) return;
    e.preventDefault();
    send({ t: "serial", data: data });
  });
  consoleEl.addEventListener("paste", function (e) {
    var text = (e.clipboardData && e.clipboardData.getData("text")) || "";
    e.preventDefault();
    if (text) send({ t: "serial", data: text.replace(/\r?\n/g, "\r") });
  });

  // KeyboardEvent.code to PS/2 scancode set 1 (0xE0xx: extended).
  var SCAN = {
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
    MetaRight: 0xe05c, ContextMenu: 0xe05d
  };
  "1234567890".split("").forEach(function (d, i) { SCAN["Digit" + d] = 0x02 + i; });
  ["QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM"].forEach(function (row, r) {
    row.split("").forEach(function (k, i) { SCAN["Key" + k] = [0x10, 0x1e, 0x2c][r] + i; });
  });
  for (var f = 1; f <= 10; f++) SCAN["F" + f] = 0x3a + f;

  var pressed = {};
  function keyCodes(scan, down) {
    var codes = scan > 0xff ? [0xe0, scan & 0xff] : [scan];
    if (!down) codes[codes.length - 1] |= 0x80;
    return codes;
  }
  function onKey(e, down) {
    var scan = SCAN[e.code];
    if (scan === undefined) return;
    e.preventDefault();
    if (!down && !pressed[e.code]) return;
    if (down) pressed[e.code] = scan;
    else delete pressed[e.code];
    send({ t: "keys", codes: keyCodes(scan, down) });
  }
  canvas.addEventListener("keydown", function (e) { onKey(e, true); });
  canvas.addEventListener("keyup", function (e) { onKey(e, false); });
  canvas.addEventListener("blur", function () {
    Object.keys(pressed).forEach(function (code) { send({ t: "keys", codes: keyCodes(pressed[code], false) }); });
    pressed = {};
  });

  // Mouse: relative motion, as a PS/2 mouse reports it, gathered per animation frame.
  var moveX = 0, moveY = 0, moveQueued = false;
  var buttons = [false, false, false];
  canvas.addEventListener("mousemove", function (e) {
    var scale = canvas.width / canvas.getBoundingClientRect().width || 1;
    moveX += e.movementX * scale;
    moveY += e.movementY * scale;
    if (!moveQueued) {
      moveQueued = true;
      requestAnimationFrame(function () {
        moveQueued = false;
        var dx = Math.round(moveX), dy = Math.round(moveY);
        moveX -= dx;
        moveY -= dy;
        if (dx || dy) send({ t: "mouse", dx: dx, dy: dy });
      });
    }
  });
  function onButton(e, down) {
    var i = e.button === 0 ? 0 : e.button === 1 ? 1 : e.button === 2 ? 2 : -1;
    if (i < 0) return;
    canvas.focus();
    // A graphical guest draws its own pointer: capture the mouse (Escape releases it).
    if (down && canvas.dataset.mode === "graphical" && document.pointerLockElement !== canvas && canvas.requestPointerLock) {
      try { canvas.requestPointerLock(); } catch (err) { /* not allowed here: plain motion still works */ }
    }
    e.preventDefault();
    buttons[i] = down;
    send({ t: "mouse", dx: 0, dy: 0, buttons: buttons.slice() });
  }
  canvas.addEventListener("mousedown", function (e) { onButton(e, true); });
  canvas.addEventListener("mouseup", function (e) { onButton(e, false); });
  canvas.addEventListener("contextmenu", function (e) { e.preventDefault(); });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    if (e.deltaY) send({ t: "mouse", dx: 0, dy: 0, wheel: e.deltaY > 0 ? 1 : -1 });
  }, { passive: false });

  var suspendButton = document.getElementById("suspend");
  suspendButton.addEventListener("click", function () {
    send({ t: "suspend" });
    setStatus("suspending…", true);
  });

  // ---- connection ----
  function connect() {
    ws = new WebSocket("ws://" + location.host + "/ws?t=" + encodeURIComponent(token));
    ws.binaryType = "arraybuffer";
    ws.onopen = function () { setStatus("running", false); };
    ws.onmessage = function (ev) {
      if (typeof ev.data === "string") {
        var m = JSON.parse(ev.data);
        if (m.t === "bye") { stopped = true; setStatus(m.message, true); suspendButton.disabled = true; }
        return;
      }
      var bytes = new Uint8Array(ev.data);
      var dv = new DataView(ev.data);
      if (bytes[0] === 1) drawText(dv, bytes);
      else if (bytes[0] === 2) feed(decoder.decode(bytes.subarray(1), { stream: true }));
      else if (bytes[0] === 3) drawGraphics(dv, bytes);
    };
    ws.onclose = function () {
      if (!stopped) setStatus("disconnected: the app was closed", true);
      suspendButton.disabled = true;
      stopped = true;
    };
  }
  connect();
  canvas.focus();
})();
`;

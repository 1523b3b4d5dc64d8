import type { GuestHost } from "../engine/engine-host";
import { TerminalAnswerer } from "./terminal-answerer";

/**
 * Joins the guest's serial console to the user's terminal. On a TTY: raw mode, every key goes to
 * the guest, and Ctrl-] then q detaches (Ctrl-] twice sends one Ctrl-]). With piped stdin: bytes
 * are forwarded as they come and the guest's terminal queries are answered for it.
 */

const ESCAPE = 0x1d; // Ctrl-]

export interface ConsoleOptions {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  onDetach: () => void;
}

export interface ConsoleBridge {
  readonly interactive: boolean;
  close(): void;
}

export function attachConsole(host: GuestHost, opts: ConsoleOptions): ConsoleBridge {
  const interactive = opts.stdin.isTTY === true;
  const answerer = interactive ? undefined : new TerminalAnswerer((b) => host.input(b));
  host.on("serial", (bytes) => {
    opts.stdout.write(bytes);
    answerer?.observe(bytes);
  });
  let escaped = false;
  const onData = (chunk: Buffer) => {
    if (!interactive) return host.input(new Uint8Array(chunk));
    const out: number[] = [];
    for (const b of chunk) {
      if (escaped) {
        escaped = false;
        if (b === 0x71 || b === 0x51) return opts.onDetach(); // q
        if (b === ESCAPE) out.push(ESCAPE);
        else opts.stderr.write("\r\n[vmsfx] Ctrl-] then q: stop   Ctrl-] Ctrl-]: send Ctrl-]\r\n");
        continue;
      }
      if (b === ESCAPE) escaped = true;
      else out.push(b);
    }
    if (out.length) host.input(Uint8Array.from(out));
  };
  if (interactive) opts.stdin.setRawMode(true);
  opts.stdin.on("data", onData);
  opts.stdin.resume();
  return {
    interactive,
    close() {
      opts.stdin.off("data", onData);
      if (interactive) opts.stdin.setRawMode(false);
      opts.stdin.pause();
    },
  };
}

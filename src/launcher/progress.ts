/**
 * Progress for long work (capture, pack, verify): a single redrawn line on a terminal, nothing
 * when stderr is a pipe or a log file, so scripts and CI logs stay clean.
 */
export interface Progress {
  update(done: number, total: number, unit?: "bytes" | "items"): void;
  note(text: string): void;
  done(text?: string): void;
}

function human(n: number, unit: "bytes" | "items"): string {
  if (unit === "items") return String(n);
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(0)} KiB`;
  return `${n} B`;
}

export function createProgress(label: string, quiet = false): Progress {
  const tty = !quiet && process.stderr.isTTY === true;
  let last = 0;
  let phase = label;
  const clear = () => tty && process.stderr.write("\r\x1b[2K");
  return {
    update(done, total, unit = "items") {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 80 && done < total) return;
      last = now;
      const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
      clear();
      process.stderr.write(`${phase}: ${pct}% (${human(done, unit)} of ${human(total, unit)})`);
    },
    note(text) {
      phase = text;
      if (!tty) return;
      clear();
      process.stderr.write(`${text}…`);
    },
    done(text) {
      clear();
      if (text && !quiet) process.stderr.write(`${text}\n`);
    },
  };
}

export function formatBytes(n: number): string {
  return human(n, "bytes");
}

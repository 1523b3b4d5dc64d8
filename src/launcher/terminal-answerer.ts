/**
 * Busybox's line editor asks the terminal where the cursor is (ESC [ 6 n) and waits for the
 * reply. A real terminal answers by itself; when nobody is attached (capture, piped input) we
 * answer as a 24x80 terminal would, with the column worked out from the output since the last
 * line break, so the guest's line editor keeps correct positions.
 */
const DSR = [0x1b, 0x5b, 0x36, 0x6e]; // ESC [ 6 n

export class TerminalAnswerer {
  private matched = 0;
  private column = 0;

  constructor(
    private readonly reply: (bytes: Uint8Array) => void,
    private readonly rows = 24,
  ) {}

  /** Feed every byte the guest writes; replies are sent through `reply`. */
  observe(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (b === 0x0a || b === 0x0d) this.column = 0;
      else if (b >= 0x20 && b !== 0x7f && this.matched === 0 && b !== 0x1b) this.column++;
      if (b === DSR[this.matched]) {
        this.matched++;
        if (this.matched === DSR.length) {
          this.matched = 0;
          this.reply(new TextEncoder().encode(`\x1b[${this.rows};${this.column + 1}R`));
        }
      } else {
        this.matched = b === DSR[0] ? 1 : 0;
      }
    }
  }
}

/** The last `limit` bytes of console output, for ready detection and error messages. */
export class SerialTail {
  private text = "";

  constructor(private readonly limit = 4096) {}

  push(bytes: Uint8Array): void {
    this.text += Buffer.from(bytes).toString("latin1");
    if (this.text.length > this.limit * 2) this.text = this.text.slice(-this.limit);
  }

  get value(): string {
    return this.text.slice(-this.limit);
  }

  /** The last few lines, printable, for an error message. */
  lastLines(n = 8): string {
    // eslint-disable-next-line no-control-regex
    return this.value.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").split(/\r?\n/).slice(-n).join("\n");
  }
}

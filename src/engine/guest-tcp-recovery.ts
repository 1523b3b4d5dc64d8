import { TCP_ACK, TCP_FIN, TCP_RST, tcpSegmentFrame, type TcpEndpoints } from "./tcp-segment";

/**
 * What v86 0.5.462's TCP lacks and a guest under load needs: it sends each segment once. When
 * the guest drops one (Linux drops the handshake's last ACK, and what follows it, while the
 * app's accept queue is full, then repeats its SYN-ACK), v86 ignores the repeated SYN-ACK and
 * never sends again: the connection hangs for good on both sides. Here, as in any TCP, a
 * repeated SYN-ACK is answered, and what the guest has not acknowledged (data or a FIN) is sent
 * again with a doubling wait; after RETRANSMIT_MS the connection is reset on both sides.
 */

/** The parts of v86's TCPConnection (src/browser/fake_network.js) read and driven here. */
export interface RecoverableTcp extends TcpEndpoints {
  state: string;
  /** The host side's first unacknowledged sequence number. */
  seq: number;
  /** The next sequence number expected from the guest. */
  ack: number;
  winsize: number;
  /** A data segment is out and not yet acknowledged (v86 keeps one at a time). */
  pending?: boolean;
  /** A FIN waits for the data before it to be acknowledged. */
  delayed_send_fin?: boolean;
  last_received_ackn?: number;
  send_buffer: { length: number };
  pump(): void;
  release(): void;
  net: { receive(frame: Uint8Array): void };
}

/** Waits before each send again (1 s, as a TCP's first RTO, doubling); after the last, a reset: about a minute. */
export const RETRANSMIT_MS: readonly number[] = [1000, 2000, 4000, 8000, 16000, 32000];

/** States in which the host side's FIN is out and not acknowledged. */
const FIN_SENT = new Set(["fin-wait-1", "closing", "last-ack"]);

function unacknowledged(c: RecoverableTcp): "data" | "fin" | undefined {
  if (c.pending && c.send_buffer.length > 0) return "data";
  if (FIN_SENT.has(c.state) && !c.delayed_send_fin) return "fin";
  return undefined;
}

/** Changes whenever the guest acknowledges something. */
function progress(c: RecoverableTcp): string {
  return `${c.state}:${c.last_received_ackn}`;
}

export class GuestTcpRecovery {
  private timer: NodeJS.Timeout | undefined;
  private tries = 0;
  private mark = "";

  constructor(
    private readonly conn: RecoverableTcp,
    /** The connection was reset after the guest stayed silent: the host side goes too. */
    private readonly gaveUp: () => void,
    private readonly delays: readonly number[] = RETRANSMIT_MS,
  ) {}

  /** A segment from the guest: true when it was a repeated SYN-ACK, answered here (v86 would drop it). */
  intercept(packet: { tcp?: { syn?: boolean; ack?: boolean } }): boolean {
    const s = this.conn.state;
    if (!packet.tcp?.syn || !packet.tcp.ack || s === "syn-sent" || s === "syn-probe" || s === "closed") return false;
    // Whatever is sent carries an ACK, which is what the guest's half-open handshake waits for.
    this.sendAgain();
    return true;
  }

  /** After anything that sent or acknowledged: a timer runs while something is unacknowledged. */
  watch(): void {
    if (!unacknowledged(this.conn)) return this.stop();
    const mark = progress(this.conn);
    if (this.timer && mark === this.mark) return;
    this.mark = mark;
    this.tries = 0;
    this.arm();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    clearTimeout(this.timer);
    // Never what keeps the engine's process alive: a stopping engine drops its connections.
    this.timer = setTimeout(() => this.expire(), this.delays[this.tries]).unref();
  }

  private expire(): void {
    this.timer = undefined;
    if (!unacknowledged(this.conn)) return;
    if (progress(this.conn) !== this.mark) return this.watch();
    if (++this.tries >= this.delays.length) return this.reset();
    this.sendAgain();
    this.arm();
  }

  private sendAgain(): void {
    const c = this.conn;
    const what = unacknowledged(c);
    if (what === "data") {
      // v86 sends from the start of its buffer, which still holds every unacknowledged byte.
      c.pending = false;
      c.pump();
      return;
    }
    const flags = what === "fin" ? TCP_FIN | TCP_ACK : TCP_ACK;
    c.net.receive(tcpSegmentFrame(c, { seq: c.seq, ack: c.ack, flags, window: c.winsize }));
  }

  private reset(): void {
    const c = this.conn;
    c.net.receive(tcpSegmentFrame(c, { seq: c.seq, ack: c.ack, flags: TCP_RST | TCP_ACK, window: 0 }));
    c.release();
    this.gaveUp();
  }
}

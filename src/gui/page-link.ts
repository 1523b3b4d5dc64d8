import type { WebSocket } from "ws";
import type { PageNotice } from "./page-protocol";

/**
 * One open page, as the launcher sends to it. A page that cannot keep up (a slow browser, a
 * background tab) must not make the launcher queue without end: past a high-water mark of
 * bytes the socket has not taken, screen updates are dropped and the whole screen is sent once
 * the queue has drained (the mirror holds every update, so nothing is lost but frames), and
 * console output waits in a bounded queue that keeps the latest bytes. Drain is noticed from
 * ws's send callbacks, so there is no polling.
 */

export interface LinkLimits {
  /** Above this many queued bytes nothing new is sent. */
  highWater: number;
  /** Catching up starts once the queue is down to this. */
  lowWater: number;
  /** Console bytes kept for a congested page; older ones are dropped. */
  maxPendingSerial: number;
}

export const DEFAULT_LIMITS: LinkLimits = { highWater: 8 << 20, lowWater: 2 << 20, maxPendingSerial: 1 << 20 };

export class PageLink {
  private stale = false;
  private pendingSerial: Uint8Array[] = [];
  private pendingSerialBytes = 0;
  private readonly drained = () => this.catchUp();

  constructor(
    private readonly ws: WebSocket,
    /** The whole current screen, for a page that missed updates. */
    private readonly wholeScreen: () => Uint8Array | undefined,
    private readonly limits: LinkLimits = DEFAULT_LIMITS,
  ) {}

  /** Bytes handed to ws and not yet taken by the kernel. */
  get queued(): number {
    return this.ws.bufferedAmount;
  }

  /** A screen update (whole or partial). */
  screen(message: Uint8Array): void {
    if (this.stale || this.congested()) {
      this.stale = true;
      return;
    }
    this.send(message);
  }

  /** Console output: in order, but only the latest bytes while the page is congested. */
  serial(message: Uint8Array): void {
    if (this.pendingSerial.length === 0 && !this.congested()) return this.send(message);
    this.pendingSerial.push(message);
    this.pendingSerialBytes += message.length;
    while (this.pendingSerialBytes > this.limits.maxPendingSerial && this.pendingSerial.length > 1) {
      this.pendingSerialBytes -= this.pendingSerial.shift()!.length;
    }
  }

  /** The page's status line: small and rare, always sent. */
  notice(notice: PageNotice): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(notice));
  }

  close(): void {
    this.ws.close(1000);
  }

  private congested(): boolean {
    return this.ws.bufferedAmount > this.limits.highWater;
  }

  private send(message: Uint8Array): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(message, { binary: true }, this.drained);
  }

  private catchUp(): void {
    if (this.ws.bufferedAmount > this.limits.lowWater) return;
    const serial = this.pendingSerial;
    this.pendingSerial = [];
    this.pendingSerialBytes = 0;
    for (const m of serial) this.send(m);
    if (!this.stale) return;
    this.stale = false;
    const whole = this.wholeScreen();
    if (whole) this.send(whole);
  }
}

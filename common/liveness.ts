/**
 * Whether the other end of a connection is alive, for both ends of the hub protocol: it is while
 * messages or bytes arrive from it (a large frame in transit counts, though no message has ended).
 */
export class Liveness {
  /** Last time the other end showed signs of life (epoch ms). */
  lastSeen: number;
  private seenBytesRead = 0;
  private seenBytesFlushed = 0;

  constructor(now = Date.now()) {
    this.lastSeen = now;
  }

  /**
   * Milliseconds since the last sign of life, given the socket's counters now. While this end does
   * not read the socket it cannot hear the other: `countFlushed` then takes the other end taking
   * bytes sent to it as a sign; `excused` says the silence does not count at all.
   */
  silentFor(
    now: number,
    counters: { bytesRead: number; bytesFlushed?: number },
    whileNotReading: { countFlushed?: boolean; excused?: boolean } = {},
  ): number {
    const flushed = counters.bytesFlushed ?? 0;
    let alive = counters.bytesRead !== this.seenBytesRead;
    if (!alive && whileNotReading.countFlushed) alive = flushed !== this.seenBytesFlushed;
    else if (!alive && whileNotReading.excused) alive = true;
    this.seenBytesRead = counters.bytesRead;
    this.seenBytesFlushed = flushed;
    if (alive) this.lastSeen = Math.max(this.lastSeen, now);
    return now - this.lastSeen;
  }
}

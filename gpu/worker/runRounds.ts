/**
 * One run's collective rounds on this worker: their numbers (0, 1, ... from the assign), the rounds
 * in flight until the hub answers, and the payload bytes they moved, counted here from what was
 * sent and received.
 */
import type { CollectiveFailedMessage, CollectiveOp, CollectiveResultMessage } from '../../common/protocol';
import { CollectiveError } from './hubErrors';

/** Payload bytes this worker moved through collectives in one run, and the rounds completed. */
export interface ClientRunBytes {
  bytesSent: number;
  bytesReceived: number;
  /** Milliseconds this rank's contributions waited at the hub for the other ranks'. */
  waitMs: number;
  rounds: number;
}

/** A completed round as this rank sees it. */
export interface RoundResult {
  header: CollectiveResultMessage;
  /** The others' contributions (allgather) or the result, as received. */
  payload: Uint8Array[];
  payloadBytes: number;
  /** This rank's payload bytes that crossed the wire (none in a world of one). */
  bytesSent: number;
  rank: number;
  round: number;
}

interface Pending {
  op: CollectiveOp;
  sent: number;
  resolve: (result: RoundResult) => void;
  reject: (e: Error) => void;
}

export class RunRounds {
  readonly bytes: ClientRunBytes = { bytesSent: 0, bytesReceived: 0, waitMs: 0, rounds: 0 };
  private nextRound = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(
    readonly runId: string,
    readonly rank: number,
    readonly worldSize: number,
  ) {}

  /**
   * Starts the next round with this rank's contribution, sent by `send` (a failed send fails the
   * round); resolves with the hub's answer. A world of one answers itself: nothing crosses the wire.
   */
  start(op: CollectiveOp, payload: Uint8Array, send: (round: number) => Promise<void>): Promise<RoundResult> {
    const round = this.nextRound++;
    const { runId, rank } = this;
    if (this.worldSize === 1) {
      this.bytes.rounds++;
      const header: CollectiveResultMessage = {
        type: 'collectiveResult',
        runId,
        round,
        op,
        sizes: [payload.byteLength],
        waitMs: 0,
      };
      const own = op === 'allgather' ? [] : [payload];
      return Promise.resolve({
        header,
        payload: own,
        payloadBytes: own.length > 0 ? payload.byteLength : 0,
        bytesSent: 0,
        rank,
        round,
      });
    }
    return new Promise((resolve, reject) => {
      this.pending.set(round, { op, sent: payload.byteLength, resolve, reject });
      send(round).catch((e: Error) => {
        if (this.pending.delete(round))
          reject(new CollectiveError(`${op} round ${round} of run ${runId}: ${e.message}`, runId, op, round));
      });
    });
  }

  /** The hub's answer to a round; one for a round not in flight (already failed here) is ignored. */
  settle(message: CollectiveResultMessage | CollectiveFailedMessage, payload: Uint8Array[]): void {
    const { round } = message;
    const pending = this.pending.get(round);
    if (!pending) return;
    this.pending.delete(round);
    const failed = (why: string) =>
      pending.reject(
        new CollectiveError(`${pending.op} round ${round} of run ${this.runId}${why}`, this.runId, pending.op, round),
      );
    if (message.type === 'collectiveFailed') return failed(` failed: ${message.reason}`);
    if (message.op !== pending.op) return failed(`: the hub answered with ${message.op}`);
    const received = payload.reduce((n, p) => n + p.byteLength, 0);
    this.bytes.bytesSent += pending.sent;
    this.bytes.bytesReceived += received;
    this.bytes.waitMs += message.waitMs;
    this.bytes.rounds++;
    pending.resolve({
      header: message,
      payload,
      payloadBytes: received,
      bytesSent: pending.sent,
      rank: this.rank,
      round,
    });
  }

  /** Fails every round in flight with `reason`. */
  failAll(reason: string): void {
    for (const [round, p] of this.pending) {
      p.reject(
        new CollectiveError(`${p.op} round ${round} of run ${this.runId} failed: ${reason}`, this.runId, p.op, round),
      );
    }
    this.pending.clear();
  }
}

/**
 * A run's group of ranks and the state of its collectives: pending rounds, their contributions, and which ranks the hub should stop reading while the group holds more than its bound. No I/O: the hub acts
 * on what these methods return.
 */
import { joinParts } from '../../../common/frame';
import type { CollectiveOp, CollectiveResultMessage } from '../../../common/protocol';

export interface RankResult {
  rank: number;
  header: CollectiveResultMessage;
  /** Sent as the frame's payload, in order, without copying. */
  payload: Uint8Array[];
}

/** A round a rank has contributed to and that will not complete: tell that rank. */
export interface RoundFailure {
  rank: number;
  round: number;
  op: CollectiveOp;
}

export type ContributeOutcome =
  | { kind: 'pending' }
  | { kind: 'complete'; round: number; op: CollectiveOp; results: RankResult[] }
  /** The contribution broke a rule: the group has failed; tell every rank in `notify`, and the sender. */
  | { kind: 'failed'; reason: string; notify: RoundFailure[] }
  /** The group had failed before: tell the sender only. */
  | { kind: 'rejected'; reason: string };

/** One rank's contribution: its payload as received (one or more fragments). */
type Parts = readonly Uint8Array[];

function length(parts: Parts): number {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  return n;
}

interface Round {
  op: CollectiveOp;
  contributions: (Parts | undefined)[];
  sizes: number[];
  /** When each rank's contribution arrived (performance.now()). */
  arrivals: number[];
  count: number;
  bytes: number;
}

export interface GroupLimits {
  /** Contribution bytes a group may hold before the hub stops reading ranks that are ahead. */
  maxBufferBytes: number;
  /** Rounds a group may have open at once before the same happens. */
  maxPendingRounds: number;
}

export class Group {
  readonly worldSize: number;
  /** Why the group failed (a rank lost, a rule broken); every later collective fails with this. */
  failure: string | null = null;
  /** Contribution bytes held by open rounds. */
  buffered = 0;
  private readonly rounds = new Map<number, Round>();
  private readonly lastRound: number[];
  private readonly pendingOf: number[];
  private scratch = new Float32Array(0);

  constructor(
    readonly runId: string,
    readonly workerIds: readonly string[],
    private readonly limits: GroupLimits,
  ) {
    this.worldSize = workerIds.length;
    this.lastRound = workerIds.map(() => -1);
    this.pendingOf = workerIds.map(() => 0);
  }

  rankOf(workerId: string): number {
    return this.workerIds.indexOf(workerId);
  }

  private who(rank: number): string {
    return `rank ${rank} (worker ${this.workerIds[rank]})`;
  }

  get openRounds(): number {
    return this.rounds.size;
  }

  /** Ranks missing from the oldest open round (none when no round is open). */
  awaitedRanks(): number[] {
    if (this.rounds.size === 0) return [];
    const oldest = this.rounds.get(Math.min(...this.rounds.keys()))!;
    return oldest.contributions.flatMap((c, rank) => (c === undefined ? [rank] : []));
  }

  /** One rank's contribution to a round. `rank` is the sender's actual rank; `claimedRank` what its header said. */
  contribute(rank: number, claimedRank: number, op: CollectiveOp, round: number, payload: Parts): ContributeOutcome {
    const size = length(payload);
    if (this.failure !== null) return { kind: 'rejected', reason: this.failure };
    const who = this.who(rank);
    if (claimedRank !== rank) return this.fail(`${who} claimed to be rank ${claimedRank} in round ${round}`);
    if (round <= this.lastRound[rank]!) {
      return this.fail(`${who} sent round ${round} after round ${this.lastRound[rank]}: rounds must increase`);
    }
    let state = this.rounds.get(round);
    if (state) {
      const first = state.contributions.findIndex((c) => c !== undefined);
      if (state.op !== op)
        return this.fail(`${who} sent ${op} for round ${round}, ${this.who(first)} sent ${state.op}`);
      if (op === 'allreduce' && size !== state.sizes[first]) {
        return this.fail(
          `allreduce round ${round}: ${who} sent ${size / 4} floats (${size} bytes), ` +
            `${this.who(first)} sent ${state.sizes[first]! / 4}`,
        );
      }
    }
    if (op === 'allreduce' && size % 4 !== 0) {
      return this.fail(`allreduce round ${round}: ${who} sent ${size} bytes, not a whole number of float32s`);
    }
    if (op === 'broadcast' && rank !== 0 && size > 0) {
      return this.fail(`broadcast round ${round}: ${who} sent ${size} bytes; only rank 0 sends`);
    }
    if (!state) {
      const contributions = new Array<Parts | undefined>(this.worldSize).fill(undefined);
      const sizes = new Array<number>(this.worldSize).fill(0);
      state = { op, contributions, sizes, arrivals: [...sizes], count: 0, bytes: 0 };
      this.rounds.set(round, state);
    }
    state.contributions[rank] = payload;
    state.sizes[rank] = size;
    state.arrivals[rank] = performance.now();
    state.count++;
    state.bytes += size;
    this.buffered += size;
    this.lastRound[rank] = round;
    this.pendingOf[rank]!++;
    if (state.count < this.worldSize) return { kind: 'pending' };

    // A NaN, an infinity or an overflow in a sum would reach every rank as if it were its own gradient.
    const sum = op === 'allreduce' ? this.sum(state.contributions as Parts[]) : null;
    const bad = sum ? firstNonFinite(sum) : -1;
    if (bad >= 0) return this.fail(this.nonFinite(round, state.contributions as Parts[], bad));

    this.rounds.delete(round);
    this.buffered -= state.bytes;
    for (let r = 0; r < this.worldSize; r++) this.pendingOf[r]!--;
    const completed = performance.now();
    const waits = state.arrivals.map((arrival) => completed - arrival);
    const results = this.results(op, round, state.contributions as Parts[], state.sizes, waits, sum);
    return { kind: 'complete', round, op, results };
  }

  private results(
    op: CollectiveOp,
    round: number,
    contributions: Parts[],
    sizes: number[],
    waits: number[],
    sum: Float32Array | null,
  ): RankResult[] {
    const header = (rank: number): CollectiveResultMessage => ({
      type: 'collectiveResult',
      runId: this.runId,
      round,
      op,
      sizes,
      waitMs: waits[rank]!,
    });
    const ranks = contributions.map((_, rank) => rank);
    switch (op) {
      case 'allgather':
        // Each rank gets the others' contributions in rank order; it has its own.
        return ranks.map((rank) => ({
          rank,
          header: header(rank),
          payload: contributions.filter((_, r) => r !== rank).flat(),
        }));
      case 'allreduce': {
        const bytes = new Uint8Array(sum!.buffer);
        return ranks.map((rank) => ({ rank, header: header(rank), payload: [bytes] }));
      }
      case 'broadcast': {
        const root = contributions[0]!;
        return ranks.map((rank) => ({
          rank,
          header: header(rank),
          payload: rank === 0 ? [] : [...root],
        }));
      }
    }
  }

  /** Names the rank whose value at `index` is not finite, or says the sum overflowed there. */
  private nonFinite(round: number, contributions: Parts[], index: number): string {
    for (const [rank, parts] of contributions.entries()) {
      const bytes = joinParts(parts);
      const value = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat32(4 * index, true);
      if (!Number.isFinite(value)) return `allreduce round ${round}: ${this.who(rank)} sent ${value} at index ${index}`;
    }
    return `allreduce round ${round}: the float32 sum overflowed at index ${index}`;
  }

  /** Float32 sum in rank order (((c0 + c1) + c2) + ...), so every rank gets the same bits. */
  private sum(contributions: Parts[]): Float32Array {
    const first = joinParts(contributions[0]!);
    const n = first.byteLength / 4;
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(first);
    for (let r = 1; r < contributions.length; r++) {
      const c = joinParts(contributions[r]!);
      let v: Float32Array;
      if (c.byteOffset % 4 === 0) {
        v = new Float32Array(c.buffer, c.byteOffset, n);
      } else {
        if (this.scratch.length < n) this.scratch = new Float32Array(n);
        new Uint8Array(this.scratch.buffer, 0, c.byteLength).set(c);
        v = this.scratch;
      }
      for (let i = 0; i < n; i++) out[i]! += v[i]!;
    }
    return out;
  }

  /** Fails the group: open rounds are dropped; returns who must hear of it. */
  fail(reason: string): { kind: 'failed'; reason: string; notify: RoundFailure[] } {
    const notify: RoundFailure[] = [];
    if (this.failure === null) {
      this.failure = reason;
      for (const [round, state] of this.rounds) {
        state.contributions.forEach((c, rank) => {
          if (c !== undefined) notify.push({ rank, round, op: state.op });
        });
      }
      this.rounds.clear();
      this.buffered = 0;
      this.pendingOf.fill(0);
    }
    return { kind: 'failed', reason: this.failure, notify };
  }

  get overBudget(): boolean {
    return this.buffered > this.limits.maxBufferBytes || this.rounds.size > this.limits.maxPendingRounds;
  }

  /**
   * Whether the hub should stop reading this rank: the group holds too much and this rank is ahead (it has
   * contributions waiting on others). A rank missing from the oldest open round has none waiting, so it is never
   * paused and the oldest round can always complete.
   */
  shouldPause(rank: number): boolean {
    return this.failure === null && this.overBudget && this.pendingOf[rank]! > 0;
  }
}

/** The first index holding NaN or an infinity (x - x is NaN exactly for those), or -1. */
function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (values[i]! - values[i]! !== 0) return i;
  return -1;
}

import { deriveSeed, permutation } from './random';

function checkRank(rank: number, worldSize: number): void {
  if (!Number.isInteger(worldSize) || worldSize < 1)
    throw new RangeError(`worldSize must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new RangeError(`rank must be an integer in 0..${worldSize - 1}, got ${rank}`);
  }
}

/** The seed of an epoch's permutation: every rank derives the same one from the run's seed. */
export function epochSeed(seed: number, epoch: number, purpose = 'order'): number {
  return deriveSeed(seed, purpose, epoch);
}

/**
 * The example indices rank `rank` of `worldSize` reads in epoch `epoch`: a permutation of
 * 0..size-1 drawn from (seed, epoch), the same on every rank, of which rank r takes the contiguous
 * slice [r·m, (r+1)·m) with m = floor(size / worldSize). Shards are disjoint, every rank gets the
 * same m examples (the size mod worldSize left over are skipped this epoch, different ones each
 * epoch), and the order changes every epoch.
 */
export function shardIndices(size: number, rank: number, worldSize: number, seed: number, epoch: number): Int32Array {
  checkRank(rank, worldSize);
  if (!Number.isInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`);
  const perRank = Math.floor(size / worldSize);
  return permutation(size, epochSeed(seed, epoch)).slice(rank * perRank, (rank + 1) * perRank);
}

/**
 * Language models: which of the worldSize·streamsPerRank token streams each row of rank `rank`'s
 * batches follows in epoch `epoch` (a permutation of the streams from (seed, epoch), sliced by rank).
 */
export function shardStreams(
  streamsPerRank: number,
  rank: number,
  worldSize: number,
  seed: number,
  epoch: number,
): Int32Array {
  checkRank(rank, worldSize);
  return permutation(streamsPerRank * worldSize, epochSeed(seed, epoch, 'streams')).slice(
    rank * streamsPerRank,
    (rank + 1) * streamsPerRank,
  );
}

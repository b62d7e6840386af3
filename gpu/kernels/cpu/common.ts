/** What the CPU host code of several primitives shares: scratch sizes, limits and small helpers. */

/**
 * Keys sampled to estimate a selection threshold. A smaller sample costs less and leaves more
 * candidates; 4096 balances the two (16K to 4M coordinates, densities 0.001 and 0.01): 2048 was
 * faster below 200K coordinates (30 against 49 us at 40K) and slower at 1M with k = 10000 (1007
 * against 803 us); 8192 and 16384 were slower except at 4M. The FNN's 157K-coordinate layer at
 * k = 157 takes 67 us, 173 with 16384.
 */
export const SAMPLE = 4096;
/** Coordinates compacted per call into the persistent compaction buffer. */
export const COMPACT_CHUNK = 1 << 18;
/** Scratch for the radix select: 4 sub-histograms of 65536 u32. */
export const HIST_BYTES = 4 * 65536 * 4;
/** Above this fraction of candidates the whole-vector select is cheaper than compacting them. */
export const MAX_CANDIDATE_FRACTION = 1 / 4;
export const MAX_LENGTH = 2 ** 31 - 1;

export function iota(n: number): Uint32Array {
  const indices = new Uint32Array(n);
  for (let i = 0; i < n; i++) indices[i] = i;
  return indices;
}

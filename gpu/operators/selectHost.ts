/** Host-side helpers for the small arrays operators handle themselves (samples, thresholds). */

/** The rank-th largest value (rank 1 = the largest), by quickselect; reorders `values`. */
export function kthLargest(values: Float32Array, rank: number): number {
  if (rank < 1 || rank > values.length) throw new RangeError(`rank ${rank} outside 1..${values.length}`);
  const target = rank - 1;
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! > pivot) i++;
      while (values[j]! < pivot) j--;
      if (i <= j) {
        const swap = values[i]!;
        values[i++] = values[j]!;
        values[j--] = swap;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return values[target]!;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/**
 * The largest float32 threshold t with "x > t" equivalent to "x >= magnitude" for magnitudes x,
 * i.e. the float32 just below a non-negative magnitude; -1 (admit all) for zero.
 */
export function nextBelow(magnitude: number): number {
  if (magnitude <= 0) return -1;
  scratch[0] = magnitude;
  scratchBits[0] = scratchBits[0]! - 1;
  return scratch[0];
}

/**
 * Host side of the exact histogram: the reference bins a float32 x as
 *   bin = width > 0 ? floor((x - min) / width) : 0, clamped to [0, bins - 1], width = (max - min) / bins,
 * in float64, and drops x when that is NaN. Over finite float32 x this is a non-decreasing step
 * function, so it is fully described by, for each b in 1..bins-1, the smallest finite float32
 * (as an order-preserving 32-bit key) whose bin is >= b. The shader then bins an element by
 * counting edges <= its key: the same answer as float64 arithmetic, on any GPU.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Order-preserving key of float32 bits: -Inf smallest, +Inf largest (-0 just below +0). */
export function orderedKey(bits: number): number {
  return (bits & 0x80000000 ? ~bits : bits | 0x80000000) >>> 0;
}

export function floatOfOrderedKey(key: number): number {
  u32[0] = key & 0x80000000 ? (key ^ 0x80000000) >>> 0 : ~key >>> 0;
  return f32[0]!;
}

/** Key of -MAX_FLOAT32 and of +MAX_FLOAT32: the finite keys are exactly this range. */
const FIRST_FINITE_KEY = 0x00800000;
const LAST_FINITE_KEY = 0xff7fffff;
export const NO_BIN = 0xffffffff;

/** The reference bin of x, or -1 when the reference does not count x. */
export function referenceBin(x: number, min: number, max: number, bins: number): number {
  const width = (max - min) / bins;
  const bin = width > 0 ? Math.floor((x - min) / width) : 0;
  const clamped = Math.min(bins - 1, Math.max(0, bin));
  return Number.isNaN(clamped) ? -1 : clamped;
}

export interface HistogramPlan {
  /** edges[b - 1]: smallest finite key with bin >= b (0: every key; NO_BIN: none). */
  edges: Uint32Array;
  nanBin: number;
  negInfBin: number;
  posInfBin: number;
  /** Finite values are not counted at all. */
  finiteSkip: boolean;
}

export function histogramPlan(min: number, max: number, bins: number): HistogramPlan {
  const binOfKey = (key: number) => referenceBin(floatOfOrderedKey(key), min, max, bins);
  const special = (x: number) => {
    const b = referenceBin(x, min, max, bins);
    return b < 0 ? NO_BIN : b;
  };
  const plan: HistogramPlan = {
    edges: new Uint32Array(Math.max(0, bins - 1)),
    nanBin: special(NaN),
    negInfBin: special(-Infinity),
    posInfBin: special(Infinity),
    finiteSkip: referenceBin(0, min, max, bins) < 0,
  };
  if (plan.finiteSkip) return plan;
  const firstBin = binOfKey(FIRST_FINITE_KEY);
  const lastBin = binOfKey(LAST_FINITE_KEY);
  let lower = FIRST_FINITE_KEY;
  for (let b = 1; b < bins; b++) {
    if (firstBin >= b) {
      plan.edges[b - 1] = 0;
      continue;
    }
    if (lastBin < b) {
      plan.edges[b - 1] = NO_BIN;
      continue;
    }
    // binOfKey(lo) < b <= binOfKey(hi).
    let lo = lower;
    let hi = LAST_FINITE_KEY;
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (binOfKey(mid) >= b) hi = mid;
      else lo = mid;
    }
    plan.edges[b - 1] = hi;
    lower = lo;
  }
  return plan;
}

// Constants and helpers shared by the kernels (see kernels.as.ts).

export const MASK: i32 = 0x7fffffff;
export const EXP_ALL: i32 = 0x7f800000; // |x| bits >= this <=> NaN or +-Inf
// Blocks whose max |x| is outside [2^-40, 2^56] are re-summed in f64: beyond them f32 partial
// sums of squares could overflow, or squares of tiny values underflow.
export const BIG_BITS: i32 = (127 + 56) << 23;
export const SMALL_BITS: i32 = (127 - 40) << 23;
export const BLOCK: u32 = 1024;
export const HIST_BINS: u32 = 65536;

/** Whether any lane of four i32x4 comparisons is set. */
// @ts-ignore: decorator
@inline
export function anyLane(g0: v128, g1: v128, g2: v128, g3: v128): bool {
  return v128.any_true(v128.or(v128.or(g0, g1), v128.or(g2, g3)));
}

/** The lanes set in four i32x4 comparisons as 16 bits (lane j of g_m is bit 4m + j). */
// @ts-ignore: decorator
@inline
export function laneBits(g0: v128, g1: v128, g2: v128, g3: v128): i32 {
  return i32x4.bitmask(g0) | (i32x4.bitmask(g1) << 4) | (i32x4.bitmask(g2) << 8) | (i32x4.bitmask(g3) << 12);
}

/** laneBits of |x| bits > t over the 16 floats at ptr (maskv: MASK, tv: t, in every lane); 0 if none. */
// @ts-ignore: decorator
@inline
export function magnitudesAbove(ptr: usize, maskv: v128, tv: v128): i32 {
  const g0 = i32x4.gt_s(v128.and(v128.load(ptr), maskv), tv);
  const g1 = i32x4.gt_s(v128.and(v128.load(ptr, 16), maskv), tv);
  const g2 = i32x4.gt_s(v128.and(v128.load(ptr, 32), maskv), tv);
  const g3 = i32x4.gt_s(v128.and(v128.load(ptr, 48), maskv), tv);
  if (!anyLane(g0, g1, g2, g3)) return 0;
  return laneBits(g0, g1, g2, g3);
}

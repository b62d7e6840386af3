/**
 * Counter-based randomness shared by every backend: key(seed, i) is a pure 32-bit function,
 * so the CPU and the WGSL kernels draw the same numbers without sharing state. The mixer is
 * Chris Wellons' "lowbias32" (public domain); randomKey feeds it the index offset by a mixed seed.
 * The WGSL (random.wgsl) and AssemblyScript (random.as.ts) copies beside this file must stay
 * bit-identical.
 */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

export function randomKey(seed: number, index: number): number {
  return mix32((index + mix32(seed >>> 0)) >>> 0);
}

/** Seed of the draw made at a given step, so every iteration samples afresh but reproducibly. */
export function stepSeed(seed: number, step: number): number {
  return mix32((mix32(seed >>> 0) ^ Math.imul(step + 1, 0x9e3779b9)) >>> 0);
}

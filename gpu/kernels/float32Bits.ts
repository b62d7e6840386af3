/**
 * Float32 bit patterns as both backends' host code passes them to the kernels: magnitudes compare
 * as integers on the bits with the sign cleared (see kernels.ts).
 */

/** Clears a float32's sign bit: its magnitude's bits. */
export const MAGNITUDE_MASK = 0x7fffffff;

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** |t| as float32 bits; -1 (admits every coordinate) for t < 0. NaN maps to its bits, as in the oracle. */
export function thresholdBits(t: number): number {
  if (t < 0) return -1;
  scratchF32[0] = t;
  return scratchU32[0]! & MAGNITUDE_MASK;
}

/** The float32 whose bit pattern is `bits`. */
export function floatOfBits(bits: number): number {
  scratchU32[0] = bits;
  return scratchF32[0]!;
}

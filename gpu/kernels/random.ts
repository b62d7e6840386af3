/**
 * Counter-based randomness shared by every backend: key(seed, i) is a pure 32-bit function,
 * so the CPU and the WGSL kernels draw the same numbers without sharing state. The mixer is
 * Chris Wellons' "lowbias32" (public domain); randomKey feeds it the index offset by a mixed seed.
 * The WGSL copy lives in gpu/kernels/webgpu/shaders/random.wgsl and must stay bit-identical.
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

/** Standard normal float32 data from a seeded generator (Box-Muller over a xorshift stream). */
export function normalData(d: number, seed = 1): Float32Array {
  const out = new Float32Array(d);
  let state = (seed * 2654435761) >>> 0 || 1;
  const uniform = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 1) / 4294967297;
  };
  for (let i = 0; i < d; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(uniform()));
    const angle = 2 * Math.PI * uniform();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < d) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

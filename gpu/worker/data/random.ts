/**
 * Seeded, platform-independent randomness for data order, augmentation, synthetic data and weight
 * initialisation. Everything is integer arithmetic (Math.imul) plus IEEE-exact float operations, so
 * two processes with the same seed draw the same numbers bit for bit, whatever the TensorFlow.js
 * backend. Nothing here touches Math.random or TensorFlow.js's own generator.
 */

import { mix32 } from '../../kernels/random/random';

/** Combines a seed with further integers or strings into one 32-bit seed (order matters). */
export function deriveSeed(seed: number, ...parts: (number | string)[]): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  for (const part of parts) {
    if (typeof part === 'number') {
      h = mix32((h ^ mix32((part >>> 0) + 0x632be5ab)) >>> 0);
    } else {
      for (let i = 0; i < part.length; i++) h = mix32((h ^ part.charCodeAt(i)) + 0x85ebca6b);
      h = mix32(h ^ part.length);
    }
  }
  return h;
}

/** A small, fast generator (SplitMix32-style counter through mix32) with uniform, integer and normal draws. */
export class Random {
  private state: number;
  private spare: number | null = null;

  constructor(seed: number) {
    this.state = mix32((seed >>> 0) ^ 0x5bd1e995);
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    return mix32(this.state);
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), n <= 2^32, without modulo bias. */
  nextInt(n: number): number {
    if (n <= 1) return 0;
    // Rejection sampling on 32 bits: the accepted range is a multiple of n.
    const limit = Math.floor(4294967296 / n) * n;
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal (Box-Muller; the second value of each pair is kept for the next call). */
  nextNormal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Normal truncated to two standard deviations (redrawn beyond), as Keras' truncatedNormal. */
  nextTruncatedNormal(): number {
    for (;;) {
      const x = this.nextNormal();
      if (x >= -2 && x <= 2) return x;
    }
  }
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates) from the given seed. */
export function permutation(n: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const random = new Random(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = random.nextInt(i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

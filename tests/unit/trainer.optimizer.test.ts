import { describe, expect, it } from 'vitest';
import { MomentumSgd } from '../../gpu/worker/optimizer';

/** Pseudo-random float32 values spanning several magnitudes. */
function values(n: number, salt: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + salt) * 10 ** ((i % 7) - 3));
}

function bits(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

describe('MomentumSgd fused passes', () => {
  for (const weightDecay of [0, 1e-4]) {
    it(`scaling in the step and returning weights gives the bits of scale, step, then w + delta (wd ${weightDecay})`, () => {
      const sizes = [1000, 7];
      const reference = new MomentumSgd(sizes, 0.9, weightDecay);
      const fused = new MomentumSgd(sizes, 0.9, weightDecay);
      let w = sizes.map((n, t) => values(n, t + 0.5));
      let wFused = w.map((x) => x.slice());
      for (let step = 0; step < 5; step++) {
        const sums = sizes.map((n, t) => values(n, step * 3 + t));
        // Before: divide the sum by P in place (float32), step, add the deltas (float32).
        const scaled = sums.map((s) => s.map((x) => x * (1 / 3)));
        const deltas = reference.step(scaled, 0.03, w);
        w = w.map((x, t) => x.map((v, i) => v + deltas[t]![i]!));
        wFused = fused.stepWeights(sums, 0.03, wFused, 1 / 3).map((x) => x.slice());
        wFused.forEach((x, t) => expect(bits(x)).toEqual(bits(w[t]!)));
      }
      expect(fused.state().map(bits)).toEqual(reference.state().map(bits));
    });
  }
});

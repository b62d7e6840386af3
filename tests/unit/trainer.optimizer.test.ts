import { describe, expect, it } from 'vitest';
import { MomentumSgd } from '../../gpu/worker/optimizer';

/** Pseudo-random float32 values spanning several magnitudes. */
function values(n: number, salt: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + salt) * 10 ** ((i % 7) - 3));
}

function bits(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

/** The CPU twin: every operation rounded to float32 on its own, in the kernel's order. */
function referenceStep(
  w: Float32Array,
  v: Float32Array,
  g: Float32Array,
  lr: number,
  momentum: number,
  scale: number,
  weightDecay: number,
): void {
  const f = Math.fround;
  const [m, s, l, d] = [f(momentum), f(scale), f(-lr), f(weightDecay)];
  for (let i = 0; i < w.length; i++) {
    let vi = f(f(m * v[i]!) + f(s * g[i]!));
    if (d !== 0) vi = f(vi + f(d * w[i]!));
    v[i] = vi;
    w[i] = f(w[i]! + f(l * vi));
  }
}

describe('MomentumSgd (one WebAssembly SIMD pass)', () => {
  for (const weightDecay of [0, 1e-4]) {
    it(`gives the bits of its float32 twin over five steps, lengths not multiples of 4 included (wd ${weightDecay})`, async () => {
      const sizes = [1001, 7, 2];
      const sgd = await MomentumSgd.create(sizes, 0.9, weightDecay);
      const w = sizes.map((n, t) => values(n, t + 0.5));
      const v = sizes.map((n) => new Float32Array(n));
      sgd.setWeights(w);
      for (let step = 0; step < 5; step++) {
        const sums = sizes.map((n, t) => values(n, step * 3 + t));
        sgd.gradientSum.set(Float32Array.from(sums.flatMap((x) => [...x])));
        const lr = 0.03 * (step + 1);
        const after = sgd.step(lr, 1 / 3);
        sizes.forEach((_, t) => referenceStep(w[t]!, v[t]!, sums[t]!, lr, 0.9, 1 / 3, weightDecay));
        after.forEach((x, t) => expect(bits(x)).toEqual(bits(w[t]!)));
        expect(sgd.gradientSum.every((x) => x === 0)).toBe(true);
      }
      expect(sgd.state().map(bits)).toEqual(v.map(bits));
    });
  }

  it('follows PyTorch: v = m v + g + wd w, w -= lr v', async () => {
    const sgd = await MomentumSgd.create([2], 0.9, 0.1);
    sgd.setWeights([Float32Array.from([1, -1])]);
    sgd.gradientSum.set([0.5, 0.5]);
    const first = sgd.step(0.1)[0]!;
    expect(first[0]).toBeCloseTo(1 - 0.1 * (0.5 + 0.1), 6);
    sgd.gradientSum.set([0.5, 0.5]);
    const v1 = 0.5 - 0.1;
    const w1 = -1 - 0.1 * v1;
    expect(sgd.step(0.1)[0]![1]).toBeCloseTo(w1 - 0.1 * (0.9 * v1 + 0.5 + 0.1 * w1), 6);
  });

  it('restores its momentum from a checkpoint and refuses one of another shape', async () => {
    const a = await MomentumSgd.create([3], 0.9, 0);
    a.gradientSum.set([1, 2, 3]);
    a.step(0.1);
    const b = await MomentumSgd.create([3], 0.9, 0);
    b.restore(a.state());
    b.setWeights(a.weights);
    a.gradientSum.fill(1);
    b.gradientSum.fill(1);
    expect(bits(b.step(0.1)[0]!)).toEqual(bits(a.step(0.1)[0]!));
    expect(() => b.restore([])).toThrow('optimizer has 1 tensors; got 0 in the checkpoint');
    expect(() => b.setWeights([new Float32Array(2)])).toThrow('tensor 0 has 3 values; got 2 in the weights');
  });
});

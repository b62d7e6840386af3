/**
 * Exponential moving average as TensorBoard draws it: s_t = w * s_{t-1} + (1 - w) * y_t, divided
 * by (1 - w^n) so the first points are not pulled towards zero. Missing values (NaN) stay missing
 * and do not advance the average. weight 0 returns the values unchanged.
 */
export function emaSmooth(ys: ArrayLike<number>, weight: number): Float64Array {
  const out = new Float64Array(ys.length);
  const w = Math.min(Math.max(weight, 0), 0.999999);
  if (w === 0) {
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i]!;
      out[i] = Number.isFinite(y) ? y : NaN;
    }
    return out;
  }
  let last = 0;
  let debias = 1;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i]!;
    if (!Number.isFinite(y)) {
      out[i] = NaN;
      continue;
    }
    last = w * last + (1 - w) * y;
    debias *= w;
    out[i] = last / (1 - debias);
  }
  return out;
}

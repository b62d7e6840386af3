/**
 * Mean and band of several seeds' curves on a common x: every run's y is linearly interpolated at
 * the union of their x values. By default only where every run has data (the common x range: a
 * run that is behind, or stopped earlier, ends the mean there, so the mean never jumps where a
 * seed drops out); with coverage 'any', wherever at least one run has data. x must be
 * non-decreasing per run. Runs without a finite point are left out.
 */
export interface Curve {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
}

export type BandKind = 'minmax' | 'std' | 'none';

export interface Aggregate {
  x: Float64Array;
  mean: Float64Array;
  /** min and max, or mean -/+ one standard deviation (population, over the runs present at x). */
  lower: Float64Array;
  upper: Float64Array;
  /** Runs contributing at each x. */
  n: Uint16Array;
}

/** The finite points of a curve, x non-decreasing. */
interface Points {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  length: number;
}

function finitePoints(curve: Curve): Points {
  const n = Math.min(curve.x.length, curve.y.length);
  // Usually every point is finite: then the curve is used as it is, no copy.
  let all = true;
  for (let i = 0; i < n && all; i++) all = Number.isFinite(curve.x[i]!) && Number.isFinite(curve.y[i]!);
  if (all) return { x: curve.x, y: curve.y, length: n };
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const xi = curve.x[i]!;
    const yi = curve.y[i]!;
    if (!Number.isFinite(xi) || !Number.isFinite(yi)) continue;
    x[m] = xi;
    y[m] = yi;
    m++;
  }
  return { x, y, length: m };
}

/** Sorted union of the x values (duplicates removed), by a k-way merge of sorted arrays. */
export function unionX(xs: readonly ArrayLike<number>[], lengths = xs.map((x) => x.length)): Float64Array {
  const total = lengths.reduce((n, l) => n + l, 0);
  const out = new Float64Array(total);
  const at = new Int32Array(xs.length);
  let m = 0;
  for (;;) {
    let best = Infinity;
    for (let r = 0; r < xs.length; r++) {
      const x = xs[r]!;
      if (at[r]! < lengths[r]! && x[at[r]!]! < best) best = x[at[r]!]!;
    }
    if (best === Infinity) break;
    out[m++] = best;
    for (let r = 0; r < xs.length; r++) {
      const x = xs[r]!;
      while (at[r]! < lengths[r]! && x[at[r]!]! <= best) at[r]!++;
    }
  }
  return out.slice(0, m);
}

function copyX(p: Points): Float64Array {
  const out = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = p.x[i]!;
  return out;
}

function sameX(a: Points, b: Points): boolean {
  if (a.length !== b.length) return false;
  if (a.x === b.x) return true;
  for (let i = 0; i < a.length; i++) if (a.x[i] !== b.x[i]) return false;
  return true;
}

export function aggregateSeeds(
  curves: readonly Curve[],
  band: BandKind = 'minmax',
  coverage: 'all' | 'any' = 'all',
): Aggregate {
  const runs = curves.map(finitePoints).filter((c) => c.length > 0);
  // Seeds of one arm usually share their x (iterations, epochs): then the union is that x.
  const shared = runs.length > 0 && runs.every((r) => sameX(r, runs[0]!));
  let x = shared
    ? copyX(runs[0]!)
    : unionX(
        runs.map((r) => r.x),
        runs.map((r) => r.length),
      );
  if (coverage === 'all' && runs.length > 1) {
    const from = Math.max(...runs.map((r) => r.x[0]!));
    const to = Math.min(...runs.map((r) => r.x[r.length - 1]!));
    let a = 0;
    while (a < x.length && x[a]! < from) a++;
    let b = x.length;
    while (b > a && x[b - 1]! > to) b--;
    x = x.slice(a, b);
  }
  const len = x.length;
  const mean = new Float64Array(len);
  const lower = new Float64Array(len);
  const upper = new Float64Array(len);
  const n = new Uint16Array(len);
  const sumSq = new Float64Array(len);
  lower.fill(Infinity);
  upper.fill(-Infinity);

  for (const run of runs) {
    const rx = run.x;
    const ry = run.y;
    const rn = run.length;
    const lastX = rx[rn - 1]!;
    let j = 0;
    for (let i = 0; i < len; i++) {
      const xi = x[i]!;
      if (xi < rx[0]! || xi > lastX) continue;
      while (j + 1 < rn && rx[j + 1]! <= xi) j++;
      let v: number;
      if (rx[j] === xi || j + 1 >= rn) {
        v = ry[j]!;
      } else {
        const x0 = rx[j]!;
        const x1 = rx[j + 1]!;
        v = ry[j]! + ((ry[j + 1]! - ry[j]!) * (xi - x0)) / (x1 - x0);
      }
      mean[i] = mean[i]! + v;
      sumSq[i] = sumSq[i]! + v * v;
      if (v < lower[i]!) lower[i] = v;
      if (v > upper[i]!) upper[i] = v;
      n[i] = n[i]! + 1;
    }
  }
  for (let i = 0; i < len; i++) {
    const c = n[i]!;
    if (c === 0) {
      mean[i] = lower[i] = upper[i] = NaN;
      continue;
    }
    const mu = mean[i]! / c;
    mean[i] = mu;
    if (band === 'std') {
      const sd = Math.sqrt(Math.max(0, sumSq[i]! / c - mu * mu));
      lower[i] = mu - sd;
      upper[i] = mu + sd;
    } else if (band === 'none') {
      lower[i] = upper[i] = mu;
    }
  }
  return { x, mean, lower, upper, n };
}

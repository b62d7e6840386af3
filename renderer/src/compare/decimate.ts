/**
 * Min-max decimation to about one bucket per pixel: in every bucket of equal width in x (or in
 * log x) it keeps the first and last point and, for every y series given, the points holding its
 * minimum and maximum (or only one of them, for the edges of a band). A line through the kept points looks like the line through all of them at
 * that width, extremes included. Points whose x or every y is not finite are dropped.
 */
export interface DecimateOptions {
  /** Buckets are equal in log10(x) (points with x <= 0 are dropped). */
  logX?: boolean;
  /** Leave series of at most this many points as they are (default 4 * buckets). */
  keepBelow?: number;
  /** Per y series: keep its minimum and maximum (default), or only one (a band's lower and upper edge). */
  keep?: readonly ('both' | 'min' | 'max')[];
}

/** Indices (increasing) of the points to keep; `x` must be non-decreasing where finite. */
export function minMaxIndices(
  x: ArrayLike<number>,
  ys: readonly ArrayLike<number>[],
  buckets: number,
  options: DecimateOptions = {},
): Int32Array {
  const n = x.length;
  const logX = options.logX ?? false;
  const valid = (i: number): boolean => {
    const xi = x[i]!;
    if (!Number.isFinite(xi) || (logX && xi <= 0)) return false;
    for (const y of ys) if (Number.isFinite(y[i]!)) return true;
    return ys.length === 0;
  };
  let first = 0;
  while (first < n && !valid(first)) first++;
  let last = n - 1;
  while (last > first && !valid(last)) last--;
  if (first >= n) return new Int32Array(0);
  const keepBelow = options.keepBelow ?? 4 * buckets;
  if (last - first + 1 <= keepBelow || buckets < 1) {
    const all: number[] = [];
    for (let i = first; i <= last; i++) if (valid(i)) all.push(i);
    return Int32Array.from(all);
  }
  const t = logX ? (v: number) => Math.log10(v) : (v: number) => v;
  const x0 = t(x[first]!);
  const span = t(x[last]!) - x0;
  const scale = span > 0 ? buckets / span : 0;
  const bucketOf = (i: number): number => Math.min(buckets - 1, Math.floor((t(x[i]!) - x0) * scale));

  let out = new Int32Array(Math.min(last - first + 1, buckets * (2 + 2 * ys.length)));
  let used = 0;
  const picked: number[] = [];
  const m = ys.length;
  const keepMin = ys.map((_, s) => (options.keep?.[s] ?? 'both') !== 'max');
  const keepMax = ys.map((_, s) => (options.keep?.[s] ?? 'both') !== 'min');
  const minAt = new Int32Array(m);
  const maxAt = new Int32Array(m);
  let bucket = -1;
  let bFirst = -1;
  let bLast = -1;

  const flush = (): void => {
    if (bFirst < 0) return;
    picked.length = 0;
    picked.push(bFirst, bLast);
    for (let s = 0; s < m; s++) {
      if (keepMin[s] && minAt[s]! >= 0) picked.push(minAt[s]!);
      if (keepMax[s] && maxAt[s]! >= 0) picked.push(maxAt[s]!);
    }
    picked.sort((a, b) => a - b);
    if (used + picked.length > out.length) {
      // Only when x goes back (not expected): grow instead of overflowing.
      const grown = new Int32Array(Math.max(out.length * 2, used + picked.length));
      grown.set(out);
      out = grown;
    }
    let prev = -1;
    for (const p of picked) {
      if (p === prev) continue;
      out[used++] = p;
      prev = p;
    }
  };

  for (let i = first; i <= last; i++) {
    if (!valid(i)) continue;
    const b = bucketOf(i);
    if (b !== bucket) {
      flush();
      bucket = b;
      bFirst = i;
      minAt.fill(-1);
      maxAt.fill(-1);
    }
    bLast = i;
    for (let s = 0; s < m; s++) {
      const v = ys[s]![i]!;
      if (!Number.isFinite(v)) continue;
      const lo = minAt[s]!;
      if (lo < 0 || v < ys[s]![lo]!) minAt[s] = i;
      const hi = maxAt[s]!;
      if (hi < 0 || v > ys[s]![hi]!) maxAt[s] = i;
    }
  }
  flush();
  return out.slice(0, used);
}

/** Chart.js's internal point format (used with parsing: false). */
export interface XY {
  x: number;
  y: number;
}

/** The kept points of one y series as Chart.js points; non-finite y becomes NaN (a gap Chart.js skips with spanGaps). */
export function pickPoints(x: ArrayLike<number>, y: ArrayLike<number>, indices: Int32Array, logY = false): XY[] {
  const points: XY[] = [];
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!;
    const v = y[i]!;
    if (!Number.isFinite(v) || (logY && v <= 0)) continue;
    points.push({ x: x[i]!, y: v });
  }
  return points;
}

/** Axis ticks for the SVG export (the canvas chart gets Chart.js's own). */

/** About `count` round ticks (1, 2, 2.5 or 5 times a power of ten) covering [min, max]. */
export function linearTicks(min: number, max: number, count = 6): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (max < min) [min, max] = [max, min];
  if (max === min) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].map((f) => f * power).find((s) => s >= raw) ?? 10 * power) as number;
  const ticks: number[] = [];
  const start = Math.ceil(min / step - 1e-9);
  for (let i = start; i * step <= max + step * 1e-9; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

/** Powers of ten within [min, max] (min > 0), with 2 and 5 times them when there are few decades. */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max > 0)) return [];
  if (max < min) [min, max] = [max, min];
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const factors = hi - lo <= 2 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) {
    for (const f of factors) {
      const v = Number((f * 10 ** e).toPrecision(12));
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) ticks.push(v);
    }
  }
  return ticks;
}

/** Short tick labels: 12k, 1.5M, 0.001, 1e-5. */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  if (a < 1e-3) return v.toExponential(0);
  return trim(v);
}

function trim(v: number): string {
  return String(Number(v.toPrecision(4)));
}

/** Whether a log-axis tick is 1, 2 or 5 times a power of ten (the ones worth a label). */
export function isRoundLogTick(v: number): boolean {
  if (!(v > 0)) return false;
  const m = v / 10 ** Math.floor(Math.log10(v) + 1e-12);
  const r = Math.round(m);
  return Math.abs(m - r) < 1e-6 * r && (r === 1 || r === 2 || r === 5);
}

/**
 * A small SVG serializer of the plotted data: frame, ticks with labels, axis titles, bands, lines
 * and a legend. Pure text, no canvas: the figure can be edited in any vector editor.
 */
import type { XY } from './decimate';
import { formatTick, isRoundLogTick, linearTicks, logTicks } from './ticks';

export interface SvgSeries {
  label: string;
  color: string;
  dash?: number[];
  line: XY[];
  band?: { lower: XY[]; upper: XY[] };
}

export interface SvgAxis {
  label: string;
  log?: boolean;
  /** Range; default: the data's. */
  min?: number;
  max?: number;
  /** Tick values; default: round ones in the range. */
  ticks?: number[];
}

export interface SvgOptions {
  width?: number;
  height?: number;
  title?: string;
  x: SvgAxis;
  y: SvgAxis;
}

export function escapeXml(text: string): string {
  return text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );
}

function range(values: number[], log: boolean): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (log && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return log ? [1, 10] : [0, 1];
  if (lo === hi) return log ? [lo / 2, hi * 2] : [lo - 1, hi + 1];
  return [lo, hi];
}

const num = (v: number): string => String(Math.round(v * 100) / 100);

export function plotToSvg(series: readonly SvgSeries[], options: SvgOptions): string {
  const width = options.width ?? 800;
  const legendRows = Math.ceil(series.length / 3);
  const height = options.height ?? 480;
  const margin = { left: 70, right: 20, top: options.title ? 34 : 16, bottom: 56 + 18 * legendRows };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const logX = options.x.log ?? false;
  const logY = options.y.log ?? false;

  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of series) {
    for (const p of s.line) {
      xs.push(p.x);
      ys.push(p.y);
    }
    for (const p of s.band?.lower ?? []) ys.push(p.y);
    for (const p of s.band?.upper ?? []) ys.push(p.y);
  }
  const [dx0, dx1] = range(xs, logX);
  const [dy0, dy1] = range(ys, logY);
  const x0 = options.x.min ?? dx0;
  const x1 = options.x.max ?? dx1;
  const y0 = options.y.min ?? dy0;
  const y1 = options.y.max ?? dy1;
  const tx = logX ? Math.log10 : (v: number) => v;
  const ty = logY ? Math.log10 : (v: number) => v;
  const px = (v: number): number => margin.left + ((tx(v) - tx(x0)) / (tx(x1) - tx(x0) || 1)) * plotW;
  const py = (v: number): number => margin.top + plotH - ((ty(v) - ty(y0)) / (ty(y1) - ty(y0) || 1)) * plotH;
  const xTicks = (options.x.ticks ?? (logX ? logTicks(x0, x1) : linearTicks(x0, x1, 8))).filter(
    (t) => t >= Math.min(x0, x1) && t <= Math.max(x0, x1),
  );
  const yTicks = (options.y.ticks ?? (logY ? logTicks(y0, y1) : linearTicks(y0, y1, 6))).filter(
    (t) => t >= Math.min(y0, y1) && t <= Math.max(y0, y1),
  );

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  if (options.title) {
    parts.push(
      `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`,
    );
  }
  // Grid and ticks.
  parts.push('<g class="grid" stroke="#e5e7eb" stroke-width="1">');
  for (const t of xTicks)
    parts.push(`<line x1="${num(px(t))}" y1="${margin.top}" x2="${num(px(t))}" y2="${margin.top + plotH}"/>`);
  for (const t of yTicks)
    parts.push(`<line x1="${margin.left}" y1="${num(py(t))}" x2="${margin.left + plotW}" y2="${num(py(t))}"/>`);
  parts.push('</g>');
  parts.push('<g class="ticks" fill="#374151">');
  // On log axes, grid lines at every tick but labels at 1, 2 and 5 times powers of ten only.
  const labelled = (t: number, log: boolean): boolean => !log || isRoundLogTick(t);
  for (const t of xTicks.filter((v) => labelled(v, logX))) {
    parts.push(
      `<text x="${num(px(t))}" y="${margin.top + plotH + 16}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`,
    );
  }
  for (const t of yTicks) {
    parts.push(
      `<text x="${margin.left - 6}" y="${num(py(t) + 4)}" text-anchor="end">${escapeXml(formatTick(t))}</text>`,
    );
  }
  parts.push('</g>');
  parts.push(
    `<rect class="frame" x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#6b7280"/>`,
  );
  parts.push(
    `<text class="x-label" x="${margin.left + plotW / 2}" y="${margin.top + plotH + 36}" text-anchor="middle">${escapeXml(options.x.label)}</text>`,
  );
  parts.push(
    `<text class="y-label" transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.y.label)}</text>`,
  );

  // Data, clipped to the frame.
  parts.push(
    `<clipPath id="plot-area"><rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}"/></clipPath>`,
  );
  parts.push('<g clip-path="url(#plot-area)">');
  const path = (points: XY[]): string =>
    points.map((p, i) => `${i === 0 ? 'M' : 'L'}${num(px(p.x))} ${num(py(p.y))}`).join('');
  for (const s of series) {
    if (s.band && s.band.lower.length > 0) {
      const upper = s.band.upper;
      const lower = [...s.band.lower].reverse();
      const d = `${path(upper)}${lower.map((p) => `L${num(px(p.x))} ${num(py(p.y))}`).join('')}Z`;
      parts.push(`<path class="band" d="${d}" fill="${s.color}" fill-opacity="0.18" stroke="none"/>`);
    }
  }
  for (const s of series) {
    if (s.line.length === 0) continue;
    const dash = s.dash && s.dash.length > 0 ? ` stroke-dasharray="${s.dash.join(' ')}"` : '';
    if (s.line.length === 1) {
      const p = s.line[0]!;
      parts.push(`<circle cx="${num(px(p.x))}" cy="${num(py(p.y))}" r="3" fill="${s.color}"/>`);
      continue;
    }
    parts.push(
      `<path class="line" d="${path(s.line)}" fill="none" stroke="${s.color}" stroke-width="1.5"${dash}><title>${escapeXml(s.label)}</title></path>`,
    );
  }
  parts.push('</g>');

  // Legend: three columns under the axis title.
  parts.push('<g class="legend">');
  const colW = plotW / 3;
  series.forEach((s, i) => {
    const lx = margin.left + (i % 3) * colW;
    const ly = margin.top + plotH + 54 + Math.floor(i / 3) * 18;
    const dash = s.dash && s.dash.length > 0 ? ` stroke-dasharray="${s.dash.join(' ')}"` : '';
    parts.push(
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 24}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`,
    );
    parts.push(`<text x="${lx + 30}" y="${ly}">${escapeXml(s.label)}</text>`);
  });
  parts.push('</g>');
  parts.push('</svg>');
  return parts.join('\n');
}

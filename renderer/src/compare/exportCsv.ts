/** CSV of the plotted curves (full resolution, smoothed and aggregated as shown) and of the summary table. */
import type { PlotModel } from './model';

export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvLine(fields: readonly (string | number | null | undefined)[]): string {
  return fields.map(csvField).join(',');
}

/**
 * One row per point: series, x, y, the band where there is one, and the EMA weight applied to y (0:
 * as recorded). Points with no y are left out.
 */
export function plotToCsv(model: PlotModel): string {
  const lines = [csvLine(['series', 'runs', model.xLabel, model.yLabel, 'lower', 'upper', 'smoothing_ema'])];
  for (const s of model.series) {
    const runs = s.runIds.join(' ');
    for (let i = 0; i < s.x.length; i++) {
      const y = s.y[i]!;
      if (!Number.isFinite(y) || !Number.isFinite(s.x[i]!)) continue;
      lines.push(csvLine([s.label, runs, s.x[i]!, y, s.lower?.[i], s.upper?.[i], model.smoothing]));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A table (header + rows) as CSV. */
export function tableToCsv(header: readonly string[], rows: readonly (readonly (string | number | null)[])[]): string {
  return `${[csvLine(header), ...rows.map((r) => csvLine(r))].join('\n')}\n`;
}

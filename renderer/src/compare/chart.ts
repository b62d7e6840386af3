/**
 * The Compare chart: draws a PlotModel with Chart.js after min-max decimation to about one bucket
 * per pixel, handing Chart.js points it does not parse again (parsing: false, normalized data).
 * The view and bench/ui use this same module.
 */
import type { ChartConfiguration, ChartDataset, Chart as ChartType } from 'chart.js';
import { Chart, theme } from '../charts/setup';
import { withAlpha } from './colors';
import { minMaxIndices, pickPoints, type XY } from './decimate';
import type { PlotModel } from './model';
import { formatTick, isRoundLogTick } from './ticks';

/**
 * Short tick labels; on log axes only 1, 2 and 5 times powers of ten are labelled, unless the range
 * holds fewer than two of them (a narrow range: 0.2 to 0.35), where every tick is.
 */
function tickLabel(log: boolean): (value: number | string, index: number, ticks: { value: number }[]) => string {
  return (value, _index, ticks) => {
    const v = Number(value);
    if (log && !isRoundLogTick(v) && ticks.filter((t) => isRoundLogTick(t.value)).length >= 2) return '';
    return formatTick(v);
  };
}

export interface AxisOptions {
  logX: boolean;
  logY: boolean;
}

/** What was drawn (the SVG export uses it). */
export interface DrawnSeries {
  label: string;
  color: string;
  dash: number[];
  marker: string;
  line: XY[];
  /** Band as lower and upper points (at the same x as each other, not necessarily as the line). */
  band?: { lower: XY[]; upper: XY[] };
}

export interface DrawResult {
  series: DrawnSeries[];
  /** Points handed to Chart.js, after decimation. */
  drawnPoints: number;
  /** Milliseconds: decimation, then Chart.js update (layout and draw). */
  prepareMs: number;
  drawMs: number;
}

type LineDataset = ChartDataset<'line', XY[]>;

/** Decimates a model for a plot this many pixels wide. */
export function decimateModel(model: PlotModel, widthPx: number, axes: AxisOptions): DrawnSeries[] {
  const buckets = Math.max(50, Math.round(widthPx));
  return model.series.map((s) => {
    // Dashed lines cost the canvas far more per segment (and a dash pattern needs some length to
    // show): they get a bucket per 3 pixels.
    const n = s.dash.length > 0 ? Math.max(50, Math.round(buckets / 3)) : buckets;
    const idx = minMaxIndices(s.x, [s.y], n, { logX: axes.logX });
    const drawn: DrawnSeries = {
      label: s.label,
      color: s.color,
      dash: s.dash,
      marker: s.marker,
      line: pickPoints(s.x, s.y, idx, axes.logY),
    };
    if (s.lower && s.upper) {
      // The band's edges: the lowest lower and the highest upper of every 2 pixels (a filled area
      // costs the canvas more than a line); Chart.js fills between them by x.
      const band = minMaxIndices(s.x, [s.lower, s.upper], Math.max(50, Math.round(buckets / 2)), {
        logX: axes.logX,
        keep: ['min', 'max'],
      });
      drawn.band = {
        lower: pickPoints(s.x, s.lower, band, axes.logY),
        upper: pickPoints(s.x, s.upper, band, axes.logY),
      };
    }
    return drawn;
  });
}

/** Markers per line: every point of a short one (evaluations), else about this many spread along it. */
const MARKERS_PER_LINE = 9;

/**
 * The points of a line that carry its marker. Lines of other arms get theirs at other offsets, so arms
 * whose lines coincide (Top_k and Trimmed_k select alike; density and rho overlap) each still show.
 * Drawn as a dataset of their own: per-point radii on the line would make Chart.js resolve options
 * for every one of its thousands of points.
 */
function markerPoints(line: readonly XY[], index: number, count: number): XY[] {
  if (line.length <= 2 * MARKERS_PER_LINE) return [...line];
  const step = Math.floor(line.length / MARKERS_PER_LINE);
  const out: XY[] = [];
  for (let i = Math.floor((step * index) / Math.max(1, count)); i < line.length; i += step) out.push(line[i]!);
  return out;
}

function datasets(drawn: DrawnSeries[]): LineDataset[] {
  const out: LineDataset[] = [];
  drawn.forEach((s, index) => {
    if (s.band) {
      out.push({
        label: `${s.label} (band low)`,
        data: s.band.lower,
        borderWidth: 0,
        pointRadius: 0,
        borderColor: 'transparent',
        backgroundColor: 'transparent',
        fill: false,
        parsing: false,
        normalized: true,
        spanGaps: true,
      });
      out.push({
        label: `${s.label} (band)`,
        data: s.band.upper,
        borderWidth: 0,
        pointRadius: 0,
        borderColor: 'transparent',
        backgroundColor: withAlpha(s.color, 0.18),
        fill: '-1',
        parsing: false,
        normalized: true,
        spanGaps: true,
      });
    }
    const marked = s.marker !== 'line';
    out.push({
      label: s.label,
      data: s.line,
      borderColor: s.color,
      backgroundColor: s.color,
      borderDash: s.dash,
      borderWidth: 1.5,
      // The legend shows the marker; the line itself has none (its markers are the next dataset).
      pointStyle: marked ? (s.marker as 'circle') : false,
      pointRadius: 0,
      pointHoverRadius: 3,
      fill: false,
      parsing: false,
      normalized: true,
      spanGaps: true,
    });
    if (marked)
      out.push({
        label: `${s.label} (markers)`,
        data: markerPoints(s.line, index, drawn.length),
        showLine: false,
        borderColor: s.color,
        backgroundColor: s.color,
        pointStyle: s.marker as 'circle',
        pointRadius: 3.5,
        pointHoverRadius: 3.5,
        parsing: false,
        normalized: true,
      });
  });
  return out;
}

/** Datasets that only dress a line (its band, its markers): out of the legend and the tooltip. */
const isBand = (label: string | undefined): boolean => label !== undefined && / \((band( low)?|markers)\)$/.test(label);

export class CompareChart {
  readonly chart: ChartType<'line', XY[]>;
  private last: DrawnSeries[] = [];

  /** `legend: false` leaves the legend to the page (the dashboard shows one for all panels); exports still draw it. */
  constructor(canvas: HTMLCanvasElement, options: { legend?: boolean } = {}) {
    const config: ChartConfiguration<'line', XY[]> = {
      type: 'line',
      data: { datasets: [] },
      plugins: [
        {
          // The panel's background (white, or dark in dark mode), so the PNG export is not transparent.
          id: 'compareBackground',
          beforeDraw: (chart) => {
            const { ctx, width, height } = chart;
            ctx.save();
            ctx.fillStyle = theme.panel;
            ctx.fillRect(0, 0, width, height);
            ctx.restore();
          },
        },
      ],
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        normalized: true,
        parsing: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        plugins: {
          decimation: { enabled: false },
          legend: {
            display: options.legend ?? true,
            position: 'bottom',
            labels: { filter: (item) => !isBand(item.text), usePointStyle: true, pointStyleWidth: 28, boxHeight: 7 },
          },
          tooltip: { filter: (item) => !isBand(item.dataset.label) },
        },
        scales: {
          x: { type: 'linear', title: { display: true, text: '' } },
          y: { type: 'linear', title: { display: true, text: '' } },
        },
      },
    };
    this.chart = new Chart(canvas, config);
  }

  /** Decimates to the canvas width and redraws; synchronous (animations are off). */
  draw(model: PlotModel, axes: AxisOptions): DrawResult {
    const t0 = performance.now();
    const width = this.chart.chartArea ? this.chart.chartArea.right - this.chart.chartArea.left : this.chart.width;
    const drawn = decimateModel(model, width || 800, axes);
    const t1 = performance.now();
    this.chart.data.datasets = datasets(drawn);
    const scales = this.chart.options.scales!;
    scales.x = {
      type: axes.logX ? 'logarithmic' : 'linear',
      title: { display: true, text: model.xLabel },
      ticks: { callback: tickLabel(axes.logX), maxRotation: 0 },
    };
    scales.y = {
      type: axes.logY ? 'logarithmic' : 'linear',
      title: { display: true, text: model.yLabel },
      ticks: { callback: tickLabel(axes.logY) },
    };
    this.chart.update('none');
    const t2 = performance.now();
    this.last = drawn;
    return {
      series: drawn,
      drawnPoints: drawn.reduce((n, s) => n + s.line.length + (s.band ? 2 * s.band.lower.length : 0), 0),
      prepareMs: t1 - t0,
      drawMs: t2 - t1,
    };
  }

  get drawn(): DrawnSeries[] {
    return this.last;
  }

  /** The scales' ranges and ticks as drawn, for the SVG export. */
  axes(): { x: { min: number; max: number; ticks: number[] }; y: { min: number; max: number; ticks: number[] } } {
    const sx = this.chart.scales.x!;
    const sy = this.chart.scales.y!;
    return {
      x: { min: sx.min, max: sx.max, ticks: sx.ticks.map((t) => t.value) },
      y: { min: sy.min, max: sy.max, ticks: sy.ticks.map((t) => t.value) },
    };
  }

  /** The chart as a PNG at `scale` times its CSS size (2: sharp in a paper), whatever the screen's ratio. */
  png(scale = 2): string {
    const chart = this.chart;
    const previous = chart.options.devicePixelRatio;
    const legend = chart.options.plugins!.legend!;
    const shown = legend.display;
    chart.options.devicePixelRatio = scale;
    // A figure on its own needs its legend, even where the page shows one for every panel.
    legend.display = true;
    chart.resize();
    try {
      return chart.toBase64Image('image/png', 1);
    } finally {
      chart.options.devicePixelRatio = previous;
      legend.display = shown;
      chart.resize();
    }
  }

  destroy(): void {
    this.chart.destroy();
  }
}

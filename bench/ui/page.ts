/**
 * The Compare chart benchmark's page: 10 runs x 50,000 points arrive as the core's RunSeries,
 * then (0) the whole dashboard (the view's six default panels through compare/dashboard), (1) our path, the module the Compare view uses (buildPlot + CompareChart: conversion,
 * min-max decimation to the canvas width, Chart.js with parsing off), and (2) the peer, plain
 * Chart.js given all 500,000 points as {x, y} objects undecimated. Each repeat starts from a
 * fresh, empty chart that has settled (as the mounted view's), then times from the data's arrival
 * to the chart drawn (Chart.js draws synchronously with animations off) and to the next animation
 * frame. bench/ui/run.js drives it.
 */
import type { RunSeries } from '../../common/api';
import { Chart } from '../../renderer/src/charts/setup';
import { CompareChart } from '../../renderer/src/compare/chart';
import { defaultPanels, drawPanel, type CommonOptions } from '../../renderer/src/compare/dashboard';
import { buildPlot, colorsOfGroups, type PlotOptions, type RunMeta } from '../../renderer/src/compare/model';

interface Timing {
  name: string;
  /** Per repeat: data arrival to the chart drawn (sync), and to the next animation frame. */
  drawnMs: number[];
  frameMs: number[];
  drawnPoints: number;
  /** Ours only, per repeat: series to plot model, decimation, Chart.js update. */
  buildMs?: number[];
  decimateMs?: number[];
  chartMs?: number[];
}

const params = new URLSearchParams(location.search);
const RUNS = Number(params.get('runs') ?? 10);
const POINTS = Number(params.get('points') ?? 50_000);
const REPEATS = Number(params.get('repeats') ?? 5);

function makeSeries(): { series: RunSeries[]; metas: Map<string, RunMeta> } {
  const series: RunSeries[] = [];
  const metas = new Map<string, RunMeta>();
  let seed = 12345;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let r = 0; r < RUNS; r++) {
    const runId = `r${r}`;
    const iteration = new Array<number>(POINTS);
    const loss = new Array<number | null>(POINTS);
    const epoch = new Array<number | null>(POINTS);
    const wallMs = new Array<number | null>(POINTS);
    const selected = new Array<number | null>(POINTS);
    const bytesSentTotal = new Array<number | null>(POINTS);
    // Statistics every 20th iteration, as the default experiment records them.
    const rho = new Array<number | null>(POINTS);
    const rate = 0.5 + r * 0.1;
    let bytes = 0;
    for (let i = 0; i < POINTS; i++) {
      iteration[i] = i;
      loss[i] = 2.3 * Math.exp((-rate * i) / POINTS) + 0.3 * rand() + (rand() < 0.001 ? 1 : 0);
      epoch[i] = i / 1000;
      wallMs[i] = i * 40 + rand() * 5;
      selected[i] = 200 * (1 + (r % 5) * rand());
      bytes += 8 * selected[i]!;
      bytesSentTotal[i] = bytes;
      rho[i] = i % 20 === 0 ? 1 - 0.01 * (1 + rand()) : null;
    }
    // An evaluation per epoch (50 here), as the accuracy panels draw them.
    const evaluations = Array.from({ length: POINTS / 1000 }, (_, e) => ({
      runId,
      iteration: (e + 1) * 1000,
      epoch: e + 1,
      wallMs: (e + 1) * 40_000,
      testLoss: 1 / (e + 2),
      accuracy: 0.9 + 0.07 * (1 - Math.exp(-e / 10)) + 0.005 * rand(),
    }));
    series.push({ runId, iteration, columns: { loss, epoch, wallMs, selected, bytesSentTotal, rho }, evaluations });
    metas.set(runId, {
      runId,
      experimentId: 'bench',
      experimentName: 'bench',
      arm: `arm${r % 5}`,
      method: ['topk', 'gaussiank', 'dgck', 'trimmedk', 'randk'][r % 5],
      seed: Math.floor(r / 5) + 1,
    });
  }
  return { series, metas };
}

/** The series as they arrive from the core: parsed from JSON (as browser mode does), fresh arrays every time. */
function arrive(data: ReturnType<typeof makeSeries>, json: string): ReturnType<typeof makeSeries> {
  return { series: JSON.parse(json) as RunSeries[], metas: data.metas };
}

/** Six canvases in the dashboard's grid (3 x 2 panels of 330 x 220 px, as the view lays them out at 1500 px). */
function freshPanels(): HTMLCanvasElement[] {
  const box = document.getElementById('box')!;
  box.innerHTML = '';
  box.style.cssText =
    'display:grid;grid-template-columns:repeat(3,330px);grid-auto-rows:220px;gap:8px;width:1006px;height:448px';
  return Array.from({ length: 6 }, () => {
    const cell = document.createElement('div');
    cell.style.position = 'relative';
    const canvas = document.createElement('canvas');
    cell.appendChild(canvas);
    box.appendChild(cell);
    return canvas;
  });
}

/** The whole Compare dashboard: the six default panels from the same series, as the view draws them. */
async function timeDashboard(name: string, data: ReturnType<typeof makeSeries>, timing: Timing[]): Promise<void> {
  const t: Timing = { name, drawnMs: [], frameMs: [], drawnPoints: 0 };
  const json = JSON.stringify(data.series);
  const panels = defaultPanels();
  const colors = colorsOfGroups(data.metas.values());
  const common: CommonOptions = { smoothing: 0, aggregate: false, band: 'none', target: 0.95 };
  for (let i = 0; i < REPEATS; i++) {
    const arrived = arrive(data, json);
    const charts = freshPanels().map((c) => new CompareChart(c, { legend: false }));
    await nextFrame();
    await nextFrame();
    const t0 = performance.now();
    let drawn = 0;
    panels.forEach((spec, p) => {
      drawn += drawPanel(charts[p]!, spec, arrived.series, arrived.metas, common, colors).result.drawnPoints;
    });
    const t1 = performance.now();
    const t2 = await nextFrame();
    t.drawnMs.push(t1 - t0);
    t.frameMs.push(t2 - t0);
    t.drawnPoints = drawn;
    for (const chart of charts) chart.destroy();
  }
  const box = document.getElementById('box')!;
  box.style.cssText = '';
  timing.push(t);
}

function freshCanvas(): HTMLCanvasElement {
  const box = document.getElementById('box')!;
  box.innerHTML = '';
  const canvas = document.createElement('canvas');
  box.appendChild(canvas);
  return canvas;
}

const nextFrame = (): Promise<number> =>
  new Promise((resolve) => requestAnimationFrame(() => resolve(performance.now())));

async function timeOurs(
  name: string,
  data: ReturnType<typeof makeSeries>,
  options: PlotOptions,
  timing: Timing[],
): Promise<void> {
  const t: Timing = { name, drawnMs: [], frameMs: [], drawnPoints: 0, buildMs: [], decimateMs: [], chartMs: [] };
  const json = JSON.stringify(data.series);
  for (let i = 0; i < REPEATS; i++) {
    const arrived = arrive(data, json);
    const chart = new CompareChart(freshCanvas());
    await nextFrame();
    await nextFrame();
    const t0 = performance.now();
    const tb = performance.now();
    const model = buildPlot(arrived.series, arrived.metas, options);
    t.buildMs!.push(performance.now() - tb);
    const result = chart.draw(model, { logX: false, logY: false });
    const t1 = performance.now();
    const t2 = await nextFrame();
    t.drawnMs.push(t1 - t0);
    t.frameMs.push(t2 - t0);
    t.drawnPoints = result.drawnPoints;
    t.decimateMs!.push(result.prepareMs);
    t.chartMs!.push(result.drawMs);
    chart.destroy();
  }
  timing.push(t);
}

async function timePeer(
  data: ReturnType<typeof makeSeries>,
  timing: Timing[],
  decimation: 'off' | 'min-max' | 'lttb' = 'off',
  /** Build the {x, y} objects from the arrived columns inside the timed part (what a view would have to do). */
  timedObjects = false,
): Promise<void> {
  // The peer gets its points ready-made as {x, y} objects (not timed, unless timedObjects), which favours it.
  const json = JSON.stringify(data.series);
  const datasets = (JSON.parse(JSON.stringify(data.series)) as RunSeries[]).map((s) => ({
    label: s.runId,
    data: s.iteration.map((x, i) => ({ x, y: s.columns.loss![i]! })),
    borderWidth: 1.5,
    pointRadius: 0,
  }));
  const name =
    decimation === 'off'
      ? 'plain Chart.js, 500k points undecimated'
      : `Chart.js decimation plugin (${decimation}, parsing off${timedObjects ? ', objects built from columns' : ''})`;
  const t: Timing = { name, drawnMs: [], frameMs: [], drawnPoints: 0 };
  for (let i = 0; i < REPEATS; i++) {
    const chart = new Chart(freshCanvas(), {
      type: 'line',
      data: { datasets: [] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          decimation:
            decimation === 'off' ? { enabled: false } : { enabled: true, algorithm: decimation, samples: 1000 },
        },
        ...(decimation === 'off' ? {} : { parsing: false, normalized: true }),
        scales: { x: { type: 'linear' }, y: { type: 'linear' } },
      },
    });
    const arrived = timedObjects ? (JSON.parse(json) as RunSeries[]) : [];
    const fresh = timedObjects ? [] : datasets.map((d) => ({ ...d, data: d.data.slice() }));
    await nextFrame();
    await nextFrame();
    const t0 = performance.now();
    if (timedObjects) {
      for (const s of arrived) {
        const loss = s.columns.loss!;
        fresh.push({
          label: s.runId,
          data: s.iteration.map((x, j) => ({ x, y: loss[j]! })),
          borderWidth: 1.5,
          pointRadius: 0,
        });
      }
    }
    chart.data.datasets = fresh;
    chart.update();
    const t1 = performance.now();
    const t2 = await nextFrame();
    t.drawnMs.push(t1 - t0);
    t.frameMs.push(t2 - t0);
    t.drawnPoints = datasets.reduce((n, d) => n + d.data.length, 0);
    chart.destroy();
  }
  timing.push(t);
}

async function main(): Promise<void> {
  const data = makeSeries();
  const timing: Timing[] = [];
  const base: PlotOptions = { x: 'iteration', y: 'loss', smoothing: 0, aggregate: false, band: 'none' };
  // Warm-up (JIT, fonts), not recorded.
  await timeOurs('warm-up', data, base, []);
  await timeDashboard('warm-up', data, []);
  await timeOurs('ours: 10 curves', data, base, timing);
  await timeDashboard('ours: the dashboard, 6 panels of 10 runs', data, timing);
  await timeOurs(
    'ours: smoothing 0.6, mean of 2 seeds with min-max band (5 curves)',
    data,
    { ...base, smoothing: 0.6, aggregate: true, band: 'minmax' },
    timing,
  );
  await timeOurs('ours: x = wall time', data, { ...base, x: 'wallTime' }, timing);
  await timePeer(data, timing);
  await timePeer(data, timing, 'min-max');
  await timePeer(data, timing, 'min-max', true);
  const box = document.getElementById('box')!;
  (window as unknown as { __benchResult: unknown }).__benchResult = {
    runs: RUNS,
    pointsPerRun: POINTS,
    repeats: REPEATS,
    canvas: { width: box.clientWidth, height: box.clientHeight, devicePixelRatio },
    userAgent: navigator.userAgent,
    timing,
  };
}

main().catch((e: unknown) => {
  (window as unknown as { __benchError: string }).__benchError = String((e as Error).stack ?? e);
});

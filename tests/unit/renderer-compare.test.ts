import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RunComparison, RunSeries } from '../../common/api';
import { aggregateSeeds, unionX } from '../../renderer/src/compare/aggregate';
import { assignColors, PALETTE } from '../../renderer/src/compare/colors';
import { minMaxIndices, pickPoints } from '../../renderer/src/compare/decimate';
import { csvField, plotToCsv } from '../../renderer/src/compare/exportCsv';
import { escapeXml, plotToSvg } from '../../renderer/src/compare/exportSvg';
import {
  dashboardColumns,
  defaultPanels,
  evaluationMetricOf,
  panelModel,
  restorePanels,
} from '../../renderer/src/compare/dashboard';
import { findings } from '../../renderer/src/compare/findings';
import { appendProgress } from '../../renderer/src/compare/live';
import {
  buildPlot,
  columnsFor,
  runCurve,
  runMetaOf,
  withTargetLine,
  type RunMeta,
} from '../../renderer/src/compare/model';
import type { RunRow } from '../../common/runs';
import { runName } from '../../renderer/src/compare/names';
import { emaSmooth } from '../../renderer/src/compare/smoothing';
import { fmtBest, fmtFinal, speedupFor, summaryRows } from '../../renderer/src/compare/summary';
import { CLUSTER_PRESETS, projectedSpeedup } from '../../common/clusterModel';

const preset = (id: string) => CLUSTER_PRESETS.find((p) => p.id === id)!;
import { isRoundLogTick, linearTicks, logTicks } from '../../renderer/src/compare/ticks';

/** Finite doubles without -0 (toBe tells -0 from 0, min and max need not). */
const finite = (min: number, max: number) => fc.double({ min, max, noNaN: true }).map((v) => v + 0);

describe('emaSmooth', () => {
  it('weight 0 is the identity and a constant stays constant (debiased)', () => {
    expect([...emaSmooth([1, 2, 3], 0)]).toEqual([1, 2, 3]);
    const s = emaSmooth([5, 5, 5, 5], 0.9);
    for (const v of s) expect(v).toBeCloseTo(5, 12);
  });

  it('matches the recurrence and skips missing values', () => {
    const s = emaSmooth([1, NaN, 3], 0.5);
    expect(s[0]).toBeCloseTo(1);
    expect(Number.isNaN(s[1]!)).toBe(true);
    // last = 0.5 * 0.5 + 0.5 * 3 = 1.75, debias 1 - 0.25 = 0.75
    expect(s[2]).toBeCloseTo(1.75 / 0.75);
  });

  it('stays within the range of the values seen so far', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        (ys, w) => {
          const s = emaSmooth(ys, w);
          let lo = Infinity;
          let hi = -Infinity;
          ys.forEach((y, i) => {
            lo = Math.min(lo, y);
            hi = Math.max(hi, y);
            const tol = 1e-9 * Math.max(1, Math.abs(lo), Math.abs(hi));
            expect(s[i]!).toBeGreaterThanOrEqual(lo - tol);
            expect(s[i]!).toBeLessThanOrEqual(hi + tol);
          });
        },
      ),
    );
  });
});

describe('minMaxIndices', () => {
  const series = fc
    .array(fc.tuple(finite(0, 10), finite(-1e3, 1e3)), {
      minLength: 1,
      maxLength: 600,
    })
    .map((pts) => {
      const xs = pts.map((p) => p[0]).sort((a, b) => a - b);
      let acc = 0;
      // x non-decreasing, starting at a random offset
      return { x: xs.map((v) => (acc = Math.max(acc, v))), y: pts.map((p) => p[1]) };
    });

  it('keeps the first and last points and the extremes of every bucket, in order', () => {
    fc.assert(
      fc.property(series, fc.integer({ min: 1, max: 40 }), ({ x, y }, buckets) => {
        const idx = minMaxIndices(x, [y], buckets, { keepBelow: 0 });
        const kept = new Set(idx);
        expect(idx[0]).toBe(0);
        expect(idx[idx.length - 1]).toBe(x.length - 1);
        for (let i = 1; i < idx.length; i++) expect(idx[i]!).toBeGreaterThan(idx[i - 1]!);
        expect(idx.length).toBeLessThanOrEqual(Math.min(x.length, 4 * buckets));
        // Recompute the buckets and check each one's min and max values are kept.
        const x0 = x[0]!;
        const span = x[x.length - 1]! - x0;
        const bucketOf = (i: number) =>
          span > 0 ? Math.min(buckets - 1, Math.floor(((x[i]! - x0) * buckets) / span)) : 0;
        const lo = new Map<number, number>();
        const hi = new Map<number, number>();
        for (let i = 0; i < x.length; i++) {
          const b = bucketOf(i);
          lo.set(b, Math.min(lo.get(b) ?? Infinity, y[i]!));
          hi.set(b, Math.max(hi.get(b) ?? -Infinity, y[i]!));
        }
        const keptLo = new Map<number, number>();
        const keptHi = new Map<number, number>();
        for (const i of kept) {
          const b = bucketOf(i);
          keptLo.set(b, Math.min(keptLo.get(b) ?? Infinity, y[i]!));
          keptHi.set(b, Math.max(keptHi.get(b) ?? -Infinity, y[i]!));
        }
        for (const [b, v] of lo) expect(keptLo.get(b)).toBe(v);
        for (const [b, v] of hi) expect(keptHi.get(b)).toBe(v);
      }),
    );
  });

  it('keeps every series extreme when given several, and short series whole', () => {
    const x = Array.from({ length: 1000 }, (_, i) => i);
    const a = x.map((i) => Math.sin(i / 7));
    const b = x.map((i) => Math.cos(i / 5) * 3);
    const idx = minMaxIndices(x, [a, b], 10, { keepBelow: 0 });
    const keptA = [...idx].map((i) => a[i]!);
    const keptB = [...idx].map((i) => b[i]!);
    expect(Math.max(...keptA)).toBe(Math.max(...a));
    expect(Math.min(...keptB)).toBe(Math.min(...b));
    expect(minMaxIndices(x, [a], 10).length).toBeLessThan(1000);
    expect(minMaxIndices([0, 1, 2], [[1, 2, 3]], 10)).toEqual(Int32Array.from([0, 1, 2]));
  });

  it('keeps only the lowest of a lower edge and the highest of an upper edge when told', () => {
    fc.assert(
      fc.property(series, fc.integer({ min: 1, max: 30 }), ({ x, y }, buckets) => {
        const upper = y.map((v) => v + 1);
        const both = minMaxIndices(x, [y, upper], buckets, { keepBelow: 0 });
        const edges = minMaxIndices(x, [y, upper], buckets, { keepBelow: 0, keep: ['min', 'max'] });
        expect(edges.length).toBeLessThanOrEqual(both.length);
        const kept = Array.from(edges);
        expect(Math.min(...kept.map((i) => y[i]!))).toBe(Math.min(...y));
        expect(Math.max(...kept.map((i) => upper[i]!))).toBe(Math.max(...upper));
        expect(kept[0]).toBe(0);
        expect(kept[kept.length - 1]).toBe(x.length - 1);
      }),
    );
  });

  it('drops non-finite points and x <= 0 on a log axis', () => {
    const idx = minMaxIndices([0, 1, 2, 3], [[1, NaN, 3, 4]], 100, { logX: true });
    expect([...idx]).toEqual([2, 3]);
    expect(pickPoints([0, 1, 2], [-1, 0, 2], Int32Array.from([0, 1, 2]), true)).toEqual([{ x: 2, y: 2 }]);
  });

  it('reduces 50,000 points to a few per pixel', () => {
    const n = 50_000;
    const x = Float64Array.from({ length: n }, (_, i) => i);
    const y = Float64Array.from({ length: n }, (_, i) => Math.sin(i) + i / n);
    const idx = minMaxIndices(x, [y], 800);
    expect(idx.length).toBeLessThanOrEqual(3200);
    expect(idx[idx.length - 1]).toBe(n - 1);
  });
});

describe('aggregateSeeds', () => {
  it('mean, min-max and std on a shared x', () => {
    const x = [0, 1, 2];
    const agg = aggregateSeeds([
      { x, y: [1, 2, 3] },
      { x, y: [3, 4, 5] },
    ]);
    expect([...agg.x]).toEqual([0, 1, 2]);
    expect([...agg.mean]).toEqual([2, 3, 4]);
    expect([...agg.lower]).toEqual([1, 2, 3]);
    expect([...agg.upper]).toEqual([3, 4, 5]);
    const std = aggregateSeeds(
      [
        { x, y: [1, 2, 3] },
        { x, y: [3, 4, 5] },
      ],
      'std',
    );
    expect([...std.lower]).toEqual([1, 2, 3]);
    expect([...std.upper]).toEqual([3, 4, 5]);
  });

  it('interpolates on the union of x, over the common range unless told otherwise', () => {
    const curves = [
      { x: [0, 2, 4], y: [0, 2, 4] },
      { x: [1, 3], y: [10, 30] },
    ];
    const common = aggregateSeeds(curves);
    expect([...common.x]).toEqual([1, 2, 3]);
    expect([...common.n]).toEqual([2, 2, 2]);
    const agg = aggregateSeeds(curves, 'minmax', 'any');
    expect([...agg.x]).toEqual([0, 1, 2, 3, 4]);
    expect([...agg.n]).toEqual([1, 2, 2, 2, 1]);
    expect(agg.mean[2]).toBeCloseTo((2 + 20) / 2);
    expect(agg.mean[4]).toBe(4);
  });

  it('the mean lies within the band and the band within the runs (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(finite(-100, 100), { minLength: 5, maxLength: 5 }), {
          minLength: 1,
          maxLength: 6,
        }),
        (runs) => {
          const x = [0, 1, 2, 3, 4];
          const agg = aggregateSeeds(runs.map((y) => ({ x, y })));
          for (let i = 0; i < 5; i++) {
            const vals = runs.map((r) => r[i]!);
            expect(agg.lower[i]).toBe(Math.min(...vals));
            expect(agg.upper[i]).toBe(Math.max(...vals));
            expect(agg.mean[i]!).toBeGreaterThanOrEqual(agg.lower[i]! - 1e-9);
            expect(agg.mean[i]!).toBeLessThanOrEqual(agg.upper[i]! + 1e-9);
          }
        },
      ),
    );
  });

  it('unionX merges sorted arrays without duplicates', () => {
    expect([...unionX([Float64Array.from([0, 2, 4]), Float64Array.from([1, 2, 5])])]).toEqual([0, 1, 2, 4, 5]);
  });
});

function series(runId: string, n: number, loss: (i: number) => number): RunSeries {
  const iteration = Array.from({ length: n }, (_, i) => i);
  return {
    runId,
    iteration,
    columns: {
      loss: iteration.map(loss),
      epoch: iteration.map((i) => i / 10),
      wallMs: iteration.map((i) => i * 100),
      bytesSentTotal: iteration.map((i) => (i + 1) * 1000),
    },
    evaluations: [
      { runId, iteration: 4, epoch: 0.5, wallMs: 400, testLoss: 1, accuracy: 0.5 },
      { runId, iteration: 9, epoch: 1, wallMs: 900, testLoss: 0.5, accuracy: 0.75 },
    ],
  };
}

const meta = (runId: string, arm: string, seed: number, method = 'topk'): RunMeta => ({
  runId,
  experimentId: 'e1',
  experimentName: 'exp',
  arm,
  method,
  seed,
});

describe('buildPlot', () => {
  const metas = new Map([
    ['a1', meta('a1', 'topk@0.01', 1)],
    ['a2', meta('a2', 'topk@0.01', 2)],
    ['b1', meta('b1', 'dense', 1, 'dense')],
  ]);
  const data = [series('a1', 10, (i) => 10 - i), series('a2', 10, (i) => 12 - i), series('b1', 10, () => 1)];

  it('aggregates seeds of one arm into a mean with a band, naming the arm', () => {
    const m = buildPlot(data, metas, { x: 'iteration', y: 'loss', smoothing: 0, aggregate: true, band: 'minmax' });
    expect(m.series.map((s) => s.label)).toEqual(['Dense', 'Top_k@0.01 (mean of 2 seeds)']);
    const topk = m.series[1]!;
    expect(topk.y[0]).toBe(11);
    expect(topk.lower![0]).toBe(10);
    expect(topk.upper![0]).toBe(12);
    expect(m.series[0]!.color).not.toBe(topk.color);
  });

  it("takes a stored run's method from its arm config and the user's name for it", () => {
    const run = {
      id: 'r1',
      experimentId: 'e1',
      experimentName: 'exp',
      arm: 'gaussiank@0.001',
      armConfig: { method: 'gaussiank' },
      seed: 3,
      status: 'running',
    } as unknown as RunRow;
    const plot = (name?: string) =>
      buildPlot([series('r1', 3, () => 1)], new Map([['r1', runMetaOf(run, name)]]), {
        x: 'iteration',
        y: 'loss',
        smoothing: 0,
        aggregate: false,
        band: 'none',
      });
    expect(plot().series.map((s) => [s.label, s.marker])).toEqual([['Gaussian_k@0.001 seed 3', 'triangle']]);
    expect(plot('wide lr').series[0]!.label).toBe('wide lr');
  });

  it('names the seed when not aggregated, and maps x and evaluation metrics', () => {
    const m = buildPlot(data, metas, { x: 'wallTime', y: 'accuracy', smoothing: 0, aggregate: false, band: 'none' });
    expect(m.series.map((s) => s.label)).toEqual(['Dense seed 1', 'Top_k@0.01 seed 1', 'Top_k@0.01 seed 2']);
    expect(Array.from(m.series[0]!.x)).toEqual([0.4, 0.9]);
    expect(Array.from(m.series[0]!.y)).toEqual([50, 75]);
    // An evaluation at iteration 4 comes after 4 iterations (records 0-3): the bytes sent by then.
    const bytes = runCurve(data[0]!, 'bytes', 'accuracy');
    expect(Array.from(bytes.x)).toEqual([4000, 9000]);
  });

  it('draws the last evaluation against bytes sent, which comes after the last recorded iteration', () => {
    const s = series('e1', 10, (i) => i);
    s.evaluations.push({ runId: 'e1', iteration: 10, epoch: 1, wallMs: 1000, testLoss: 0.4, accuracy: 0.8 });
    const curve = runCurve(s, 'bytes', 'accuracy');
    expect(Array.from(curve.x)).toEqual([4000, 9000, 10000]);
    expect(Array.from(curve.y)).toEqual([50, 75, 80]);
    // A strided series whose last record is before the final evaluation still places it, at the last total.
    const strided = { ...s, iteration: [0, 5], columns: { bytesSentTotal: [1000, 6000] } };
    expect(Array.from(runCurve(strided, 'bytes', 'accuracy').x)).toEqual([4000, 6000, 6000]);
  });

  it('smooths only per-iteration series: the drawn final accuracy is the recorded one', () => {
    const accuracy = buildPlot(data, metas, {
      x: 'iteration',
      y: 'accuracy',
      smoothing: 0.8,
      aggregate: false,
      band: 'none',
    });
    for (const line of accuracy.series) expect(Array.from(line.y)).toEqual([50, 75]);
    expect(accuracy.smoothing).toBe(0);
    expect(accuracy.yLabel).toBe('Test accuracy (%)');
    const loss = buildPlot(data, metas, { x: 'iteration', y: 'loss', smoothing: 0.8, aggregate: false, band: 'none' });
    expect(loss.smoothing).toBe(0.8);
    expect(loss.series[1]!.y[9]).not.toBe(1);
    expect(loss.yLabel).toBe('Train loss (smoothed by EMA 0.80)');
  });

  it('exports say whether the curves are smoothed', () => {
    const raw = plotToCsv(
      buildPlot(data, metas, { x: 'iteration', y: 'loss', smoothing: 0, aggregate: true, band: 'none' }),
    );
    expect(raw.split('\n')[0]).toBe('series,runs,Iteration,Train loss,lower,upper,smoothing_ema');
    expect(raw.split('\n')[1]!.endsWith(',0')).toBe(true);
    const smoothed = plotToCsv(
      buildPlot(data, metas, { x: 'iteration', y: 'loss', smoothing: 0.6, aggregate: true, band: 'none' }),
    );
    expect(smoothed.split('\n')[0]).toContain('Train loss (smoothed by EMA 0.60)');
    expect(smoothed.split('\n')[1]!.endsWith(',0.6')).toBe(true);
  });

  it("reads null entries of the core's columns as missing values", () => {
    const s = series('n1', 4, (i) => i);
    s.columns.loss = [1, null, 3, null];
    const m = buildPlot([s], new Map([['n1', meta('n1', 'topk', 1)]]), {
      x: 'iteration',
      y: 'loss',
      smoothing: 0,
      aggregate: true,
      band: 'none',
    });
    expect(plotToCsv(m).trim().split('\n').length).toBe(1 + 2);
    expect(Array.from(emaSmooth([1, null as unknown as number], 0))).toEqual([1, NaN]);
    const iterationMs = runCurve(
      {
        ...s,
        columns: {
          computeMs: [1, 2, null, 4],
          compressMs: [1, 1, 1, 1],
          exchangeMs: [0, 0, 0, 0],
          updateMs: [0, 0, 0, 0],
        },
      },
      'iteration',
      'iterationMs',
    );
    expect(Array.from(iterationMs.y)).toEqual([2, 3, NaN, 5]);
  });

  it('draws a target line across the x range of the series', () => {
    const m = buildPlot(data, metas, { x: 'epoch', y: 'accuracy', smoothing: 0, aggregate: true, band: 'none' });
    const withLine = withTargetLine(m, 80, 'target 80%');
    const line = withLine.series[withLine.series.length - 1]!;
    expect(line.label).toBe('target 80%');
    expect(Array.from(line.x)).toEqual([0.5, 1]);
    expect(Array.from(line.y)).toEqual([80, 80]);
    expect(withTargetLine({ ...m, series: [] }, 80, 't').series).toEqual([]);
  });

  it('asks for the columns the axes need', () => {
    expect(columnsFor('bytes', 'iterationMs').sort()).toEqual(
      ['bytesSentTotal', 'exchangeMs', 'computeMs', 'compressMs', 'updateMs'].sort(),
    );
    expect(columnsFor('iteration', 'accuracy')).toEqual([]);
  });

  it('exports CSV and SVG of what it plots', () => {
    const m = buildPlot(data, metas, { x: 'iteration', y: 'loss', smoothing: 0.5, aggregate: true, band: 'std' });
    const csv = plotToCsv(m);
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe('series,runs,Iteration,Train loss (smoothed by EMA 0.50),lower,upper,smoothing_ema');
    expect(lines.length).toBe(1 + 20);
    const svg = plotToSvg(
      m.series.map((s) => ({
        label: s.label,
        color: s.color,
        dash: s.dash,
        line: Array.from(s.x, (x, i) => ({ x, y: s.y[i]! })),
      })),
      { x: { label: m.xLabel }, y: { label: m.yLabel, log: true } },
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('Top_k@0.01 (mean of 2 seeds)');
    expect(svg.match(/class="line"/g)?.length).toBe(2);
    expect(svg).toContain('Train loss');
    expect(svg).not.toContain('NaN');
  });
});

describe('export helpers', () => {
  it('quotes CSV fields and escapes XML', () => {
    expect(csvField('a,"b"')).toBe('"a,""b"""');
    expect(csvField(NaN)).toBe('');
    expect(escapeXml('<a & "b">')).toBe('&lt;a &amp; &quot;b&quot;&gt;');
  });

  it('ticks are round and inside the range', () => {
    expect(linearTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(logTicks(1, 1000)).toEqual([1, 10, 100, 1000]);
    expect(logTicks(2, 40)).toEqual([2, 5, 10, 20]);
    expect([0.1, 0.15, 0.2, 0.3, 0.5, 1, 1.5, 2, 50, 3000].filter(isRoundLogTick)).toEqual([0.1, 0.2, 0.5, 1, 2, 50]);
  });

  it('colours are stable per arm and distinct on screen', () => {
    const a = assignColors([
      { key: 'e/topk', arm: 'topk', method: 'topk' },
      { key: 'e/gk', arm: 'gk', method: 'gaussiank' },
    ]);
    const b = assignColors([{ key: 'e/gk', arm: 'gk', method: 'gaussiank' }]);
    expect(a.get('e/gk')).toBe(b.get('e/gk'));
    const many = assignColors(
      Array.from({ length: PALETTE.length }, (_, i) => ({ key: `k${i}`, arm: 'x', method: 'topk' })),
    );
    expect(new Set(many.values()).size).toBe(PALETTE.length);
  });
});

describe('live and summary', () => {
  it('appends progress past the last iteration only', () => {
    const s = series('a', 3, () => 1);
    const event = {
      type: 'progress' as const,
      runId: 'a',
      iteration: 3,
      epoch: 0.3,
      epochs: 1,
      loss: 0.5,
      wallMs: 300,
    };
    expect(appendProgress(s, event)).toBe(true);
    expect(appendProgress(s, event)).toBe(false);
    expect(s.iteration).toEqual([0, 1, 2, 3]);
    expect(s.columns.loss![3]).toBe(0.5);
    expect(s.columns.bytesSentTotal![3]).toBe(null);
  });

  it('speedups come from the core, else against a Dense modelled from the run', () => {
    const row = {
      runId: 'r',
      experimentId: 'e',
      arm: 'topk',
      seed: 1,
      status: 'finished',
      armConfig: { method: 'topk', density: 0.001, errorFeedback: true, sampleRatio: 0.01 },
      measured: { computeSeconds: 0.01, compressSeconds: 0.002, updateSeconds: 0.001, d: 1e6, k: 1000, dense: false },
      speedups: { '16gpu-10gbe': 1.5, '16gpu-1gbe': null },
      target: null,
    } as unknown as RunComparison;
    expect(speedupFor(row, preset('16gpu-10gbe'))).toEqual({ value: 1.5, modelled: false });
    const modelled = speedupFor(row, preset('16gpu-1gbe'));
    expect(modelled.modelled).toBe(true);
    expect(modelled.value!).toBeGreaterThan(1);
    expect(summaryRows([row], [preset('16gpu-10gbe')]).header).toContain('speedup_16gpu-10gbe');
  });

  it("projects with the presets as edited in Cluster, against the experiment's Dense run", () => {
    const measured = (k: number, dense = false) => ({
      computeSeconds: 0.01,
      compressSeconds: dense ? 0 : 0.002,
      updateSeconds: 0.001,
      d: 1e6,
      k,
      dense,
    });
    const row = (runId: string, method: string, k: number, speedup: number | null) =>
      ({
        runId,
        experimentId: 'e',
        arm: method,
        seed: 1,
        status: 'finished',
        armConfig: { method, density: 0.001, errorFeedback: true, sampleRatio: 0.01 },
        measured: measured(k, method === 'dense'),
        // What the core projected on the paper's preset: a stale value once the preset is edited.
        speedups: { '16gpu-10gbe': speedup },
        target: null,
      }) as unknown as RunComparison;
    const dense = row('d', 'dense', 1e6, 1);
    const topk = row('t', 'topk', 1000, 0.84);
    const base = preset('16gpu-10gbe');
    const slower = { ...base, allreduce: { alpha: base.allreduce.alpha, beta: base.allreduce.beta * 10 } };
    const onBase = speedupFor(topk, base, [dense, topk]);
    const onEdited = speedupFor(topk, slower, [dense, topk], true);
    expect(onBase.value).toBeCloseTo(projectedSpeedup(base, topk.measured!, dense.measured!), 12);
    expect(onEdited.value).toBeCloseTo(projectedSpeedup(slower, topk.measured!, dense.measured!), 12);
    // A slower allreduce makes Dense slower: the sparse arm's speedup grows, and the core's stale 0.84 is not used.
    expect(onEdited.value!).toBeGreaterThan(onBase.value!);
    expect(onEdited.value).not.toBe(0.84);
    // Without the Dense run selected, an edited preset is modelled rather than taken from the core.
    expect(speedupFor(topk, slower, [topk], true).modelled).toBe(true);
    expect(summaryRows([dense, topk], [slower], new Set(['16gpu-10gbe'])).header).toContain(
      'speedup_16gpu-10gbe_edited',
    );
  });
});

describe('dashboard', () => {
  const metas = new Map([
    ['t', meta('t', 'topk@0.01', 1)],
    ['g', meta('g', 'gaussiank@0.01', 1, 'gaussiank')],
  ]);
  const data = [series('t', 10, (i) => 10 - i), series('g', 10, (i) => 12 - i)];
  const common = { smoothing: 0, aggregate: true, band: 'none' as const, target: 0.9 };

  it('opens on accuracy against iterations, bytes and wall time, loss, selected count and 1 - rho', () => {
    const panels = defaultPanels();
    expect(panels.map((p) => `${p.oneMinus ? '1-' : ''}${p.y}/${p.x}`)).toEqual([
      'accuracy/iteration',
      'accuracy/bytes',
      'accuracy/wallTime',
      'loss/iteration',
      'selected/iteration',
      '1-rho/iteration',
    ]);
    expect(dashboardColumns(panels).sort()).toEqual(['bytesSentTotal', 'loss', 'rho', 'selected', 'wallMs'].sort());
    // Saved settings of another shape fall back to the defaults, field by field.
    expect(restorePanels('nonsense')).toEqual(panels);
    const restored = restorePanels(panels.map((p, i) => (i === 0 ? { ...p, x: 'epoch', logY: 'yes' } : p)));
    expect(restored[0]).toEqual({ ...panels[0], x: 'epoch' });
    // A metric or axis this version no longer knows (renamed since) is not restored.
    const renamed = restorePanels(panels.map((p, i) => (i === 3 ? { ...p, y: 'communicateMs', x: 'steps' } : p)));
    expect(renamed[3]).toEqual(panels[3]);
  });

  it('draws perplexity for language models, the target line, and 1 - rho', () => {
    const withTarget = panelModel(defaultPanels()[0]!, data, metas, common, new Map());
    expect(withTarget.series.at(-1)!.label).toBe('target 90%');
    const lm = data.map((s) => ({
      ...s,
      evaluations: s.evaluations.map((e) => ({ ...e, accuracy: undefined, perplexity: 100 * e.testLoss })),
    }));
    expect(evaluationMetricOf(lm)).toBe('perplexity');
    expect(panelModel(defaultPanels()[0]!, lm, metas, { ...common, target: null }, new Map()).yLabel).toBe(
      'Test perplexity',
    );
    const rho = data.map((s) => ({ ...s, columns: { ...s.columns, rho: s.iteration.map(() => 0.99) } }));
    const m = panelModel(defaultPanels()[5]!, rho, metas, common, new Map());
    expect(m.yLabel).toMatch(/^1 − rho/);
    expect(m.series[0]!.y[0]).toBeCloseTo(0.01, 12);
  });

  it('says per arm how it compares with Top_k: final accuracy and bytes per iteration', () => {
    const row = (runId: string, arm: string, method: string, accuracy: number, bytes: number) =>
      ({
        runId,
        experimentId: 'e',
        arm,
        seed: 1,
        armConfig: { method },
        finalAccuracy: accuracy,
        finalPerplexity: null,
        meanBytesSent: bytes,
      }) as unknown as RunComparison;
    const out = findings([
      row('t', 'topk@0.001', 'topk', 0.9759, 5141),
      row('g', 'gaussiank@0.001', 'gaussiank', 0.9744, 12319),
      row('d', 'dense', 'dense', 0.975, 796840),
    ]);
    expect(out.map((f) => f.text)).toEqual([
      "Gaussian_k@0.001: 97.44% against Top_k's 97.59%, sending 2.40× Top_k's bytes per iteration.",
      "Dense: 97.50% against Top_k's 97.59%, sending 155× Top_k's bytes per iteration.",
    ]);
    expect(findings([row('g', 'gaussiank@0.001', 'gaussiank', 0.97, 1)])).toEqual([]);
  });
});

describe("one run's evaluation text", () => {
  it('reads perplexity where the run records it, else accuracy', () => {
    const classifier = { finalAccuracy: 0.97594, bestAccuracy: 0.98, finalPerplexity: null, bestPerplexity: null };
    expect([fmtFinal(classifier), fmtBest(classifier)]).toEqual(['97.59%', '98.00%']);
    const language = { finalAccuracy: null, bestAccuracy: null, finalPerplexity: 142.0371, bestPerplexity: 139.5 };
    expect([fmtFinal(language), fmtBest(language)]).toEqual(['142', '139.5']);
    const none = { finalAccuracy: null, bestAccuracy: null, finalPerplexity: null, bestPerplexity: null };
    expect([fmtFinal(none), fmtBest(none)]).toEqual(['–', '–']);
  });
});

describe('run names', () => {
  it("goes by the user's name for a run, else its arm as people write it and its seed", () => {
    const run = { arm: 'trimmedk@0.01', seed: 2, armConfig: { method: 'trimmedk' } };
    expect(runName(run, 'baseline')).toBe('baseline');
    expect(runName(run, null)).toBe('Trimmed_k@0.01 seed 2');
    expect(runName(run, '')).toBe('Trimmed_k@0.01 seed 2');
    expect(runName({ ...run, arm: 'mine' }, undefined)).toBe('mine seed 2');
  });
});

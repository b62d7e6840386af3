import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BenchRecord, RunSeries } from '../../common/api';
import type { BenchResults } from '../../common/bench';
import { CLUSTER_PRESETS, projectedSpeedup } from '../../common/clusterModel';
import { contractionBounds } from '../../common/stats';
import {
  belowTopk,
  describeTally,
  expectedBounds,
  viewContraction,
  pointsFromLayerStats,
  pointsFromSeries,
  summarizeBounds,
} from '../../renderer/src/analysis/bounds';
import {
  benchLines,
  densitiesOf,
  formatSize,
  linesOf,
  parseNumberList,
  SIZE_PRESETS,
  timingRows,
} from '../../renderer/src/analysis/bench';
import {
  binEdges,
  combineMoments,
  fitNormal,
  formatNumber,
  mergeHistograms,
  normalCdf,
} from '../../renderer/src/analysis/histogram';
import {
  applyDraft,
  draftOf,
  measuredBreakdown,
  parseField,
  projectionLines,
  speedupTable,
  type ProjectionRow,
} from '../../renderer/src/analysis/projection';
import type { LayerStatsRecord } from '../../common/metrics';

describe('fitted normal curve over bins', () => {
  it('puts the total count in the bins when the range covers the distribution', () => {
    const h = { min: -6, max: 6, counts: new Array(24).fill(0).map((_, i) => (i === 11 || i === 12 ? 50 : 0)) };
    const fit = fitNormal(h, 0, 1);
    expect(fit.total).toBe(100);
    expect(fit.expected.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 4);
    expect(fit.edges).toHaveLength(25);
    expect(fit.centers[0]).toBeCloseTo(-5.75, 12);
    // Symmetric about 0, the peak at the centre, density * N * width at x = 0.
    expect(fit.expected[11]).toBeCloseTo(fit.expected[12]!, 6);
    const peak = fit.curve.reduce((m, p) => (p.y > m.y ? p : m));
    expect(peak.x).toBeCloseTo(0, 12);
    expect(peak.y).toBeCloseTo((100 * 0.5) / Math.sqrt(2 * Math.PI), 6);
  });

  it('expected counts follow the CDF: never negative, never more than the total, monotone CDF', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -5, max: 5, noNaN: true }),
        fc.double({ min: 1e-3, max: 5, noNaN: true }),
        fc.double({ min: 0.01, max: 20, noNaN: true }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 0, max: 10_000 }),
        (mean, std, span, bins, total) => {
          const counts = new Array(bins).fill(0);
          counts[0] = total;
          const fit = fitNormal({ min: mean - span, max: mean + span, counts }, mean, std);
          const sum = fit.expected.reduce((a, b) => a + b, 0);
          expect(fit.expected.every((e) => e >= -1e-9)).toBe(true);
          expect(sum).toBeLessThanOrEqual(total * (1 + 1e-9) + 1e-9);
          expect(sum).toBeCloseTo(total * (normalCdf(mean + span, mean, std) - normalCdf(mean - span, mean, std)), 3);
        },
      ),
    );
  });

  it('handles a point mass and a zero std without NaN', () => {
    const fit = fitNormal({ min: 2, max: 2, counts: [7] }, 2, 0);
    expect(fit.expected).toEqual([7]);
    expect(fit.curve).toEqual([]);
    expect(binEdges({ min: 2, max: 2, counts: [7] })).toEqual([2, 2]);
    expect(fitNormal({ min: 0, max: 1, counts: [] }, 0, 1).expected).toEqual([]);
  });

  it('merges layer histograms onto one grid, keeping the total', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            min: fc.double({ min: -10, max: 0, noNaN: true }),
            span: fc.double({ min: 0, max: 10, noNaN: true }),
            counts: fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 40 }),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        fc.integer({ min: 1, max: 64 }),
        (parts, bins) => {
          const hs = parts.map((p) => ({ min: p.min, max: p.min + p.span, counts: p.counts }));
          const merged = mergeHistograms(hs, bins)!;
          const total = hs.reduce((a, h) => a + h.counts.reduce((x, y) => x + y, 0), 0);
          expect(merged.counts).toHaveLength(bins);
          expect(merged.counts.reduce((a, b) => a + b, 0)).toBeCloseTo(total, 6);
          expect(merged.min).toBe(Math.min(...hs.map((h) => h.min)));
        },
      ),
    );
    // Aligned grids merge exactly.
    const merged = mergeHistograms(
      [
        { min: 0, max: 2, counts: [1, 2] },
        { min: 0, max: 4, counts: [3, 4] },
      ],
      4,
    )!;
    expect(merged.counts).toEqual([2.5, 3.5, 2, 2]);
    expect(mergeHistograms([], 4)).toBeNull();
  });

  it('pools moments of groups like the moments of the concatenated data', () => {
    const moments = (xs: number[]) => {
      const n = xs.length;
      const m = xs.reduce((a, b) => a + b, 0) / n;
      const c = (j: number) => xs.reduce((a, x) => a + (x - m) ** j, 0) / n;
      const s2 = c(2);
      return {
        n,
        mean: m,
        std: Math.sqrt(s2),
        skewness: s2 > 1e-12 ? c(3) / s2 ** 1.5 : 0,
        excessKurtosis: s2 > 1e-12 ? c(4) / s2 ** 2 - 3 : 0,
      };
    };
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 1, maxLength: 30 }), {
          minLength: 1,
          maxLength: 4,
        }),
        (groups) => {
          const all = groups.flat();
          const want = moments(all);
          const got = combineMoments(groups.map(moments))!;
          expect(got.n).toBe(all.length);
          expect(got.mean).toBeCloseTo(want.mean, 6);
          expect(got.std).toBeCloseTo(want.std, 5);
          if (want.std > 1e-3) {
            expect(got.skewness).toBeCloseTo(want.skewness, 4);
            expect(got.excessKurtosis).toBeCloseTo(want.excessKurtosis, 3);
          }
        },
      ),
    );
    expect(combineMoments([])).toBeNull();
  });

  it('formats numbers for people', () => {
    expect(formatNumber(null)).toBe('–');
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(0.123456)).toBe('0.123');
    expect(formatNumber(1.5e-7)).toBe('1.50e-7');
    expect(formatNumber(NaN)).toBe('–');
  });
});

describe('bound checks', () => {
  const series: RunSeries = {
    runId: 'r',
    iteration: [0, 1, 5, 10, 15],
    columns: {
      rho: [null, null, 0.5, 0.98, 0.2],
      rhoTopk: [null, null, 0.4, 0.9, 0.1],
      boundGeneral: [null, null, 0.95, 0.95, 0.95],
      boundGaussian: [null, null, 0.9025, 0.9025, 0.9025],
      overlap: [null, null, 0.8, 0.6, 1],
      selected: [100, 100, 90, 110, 100],
      k: [100, 100, 100, 100, 100],
    },
    evaluations: [],
  };

  it('keeps only the iterations with statistics and counts where each bound held', () => {
    const points = pointsFromSeries(series);
    expect(points.map((p) => p.iteration)).toEqual([5, 10, 15]);
    const s = summarizeBounds(points);
    expect(s.topkGaussian).toMatchObject({ measured: 3, held: 3, violations: [] });
    expect(s.rhoGeneral).toMatchObject({ measured: 3, held: 2, violations: [10] });
    expect(s.rhoGeneral.worstMargin).toBeCloseTo(0.03, 12);
    expect(s.meanSelectionError).toBeCloseTo((0.1 + 0.1 + 0) / 3, 12);
    expect(s.meanOverlap).toBeCloseTo(0.8, 12);
    expect(describeTally(s.topkGaussian)).toBe('3 of 3');
    expect(describeTally(s.rhoGaussian)).toBe('2 of 3 (first exceeded at iteration 10)');
    expect(describeTally(summarizeBounds([]).rhoGeneral)).toBeNull();
  });

  it('reads a layer out of the statistics records in iteration order', () => {
    const rec = (iteration: number, layer: string, rho: number): LayerStatsRecord => ({
      runId: 'r',
      iteration,
      layer,
      d: 1000,
      k: 10,
      selected: 12,
      threshold: null,
      rho,
      rhoTopk: rho,
      boundGeneral: 0.99,
      boundGaussian: 0.9801,
      overlap: 1,
      mean: 0,
      std: 1,
      skewness: 0,
      excessKurtosis: 0,
    });
    const points = pointsFromLayerStats([rec(10, 'a', 0.3), rec(5, 'a', 0.2), rec(5, 'b', 0.9)], 'a');
    expect(points.map((p) => [p.iteration, p.rho])).toEqual([
      [5, 0.2],
      [10, 0.3],
    ]);
  });

  it('matches the bounds common/stats derives, and (1 - k/d)^2 <= 1 - k/d', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e7 }), fc.double({ min: 0, max: 1, noNaN: true }), (d, f) => {
        const k = Math.max(1, Math.floor(f * d));
        const b = expectedBounds(k, d);
        const c = contractionBounds(d, k);
        expect(b.boundGeneral).toBeCloseTo(c.boundGeneral, 12);
        expect(b.boundGaussian).toBeCloseTo(c.boundGaussian, 12);
        expect(b.boundGaussian).toBeLessThanOrEqual(b.boundGeneral + 1e-15);
      }),
    );
  });
});

describe('readable contraction ratios after warm-up', () => {
  const p = (rho: number, rhoTopk: number, selected: number, k = 10, d = 1000) => ({
    iteration: 0,
    rho,
    rhoTopk,
    boundGeneral: 1 - k / d,
    boundGaussian: (1 - k / d) ** 2,
    overlap: 1,
    selected,
    k,
  });

  it('separates values at 0.99-1.0: 1 - rho, or rho over the general bound', () => {
    const [one] = viewContraction([p(0.995, 0.985, 10)], 'oneMinus');
    expect(one!.rho).toBeCloseTo(0.005, 12);
    expect(one!.rhoTopk).toBeCloseTo(0.015, 12);
    expect(one!.boundGeneral).toBeCloseTo(0.01, 12);
    const [normalized] = viewContraction([p(0.99, 0.98, 10)], 'normalized');
    expect(normalized!.boundGeneral).toBeCloseTo(1, 12);
    expect(normalized!.boundGaussian).toBeCloseTo(0.99, 12);
    expect(normalized!.rho).toBeCloseTo(1, 12);
  });

  it('tells when rho is below exact Top_k only because more than k were selected', () => {
    expect(belowTopk([p(0.95, 0.97, 25), p(0.96, 0.97, 25), p(0.98, 0.97, 8), p(0.97, 0.97, 10)])).toEqual({
      below: 2,
      more: 2,
    });
  });
});

const machine = { hostname: 'h', cpu: 'AMD EPYC', cores: 2, memoryGiB: 24, platform: 'linux', node: 'v20', date: 'd' };
const results: BenchResults = {
  machine,
  devices: { cpu: 'WebAssembly SIMD (1 thread)' },
  options: {
    sizes: [1e6, 4e6],
    densities: [0.001, 0.01],
    backends: ['cpu'],
    methods: ['topk', 'gaussiank'],
    repeats: 3,
    peers: true,
    tfjsMaxSize: 0,
  },
  readPass: [
    { d: 4e6, backend: 'cpu', ms: 0.5 },
    { d: 1e6, backend: 'cpu', ms: 0.3 },
  ],
  operators: [
    { d: 4e6, density: 0.001, backend: 'cpu', method: 'topk', ms: 6, readPasses: 12, selected: 4000 },
    { d: 1e6, density: 0.001, backend: 'cpu', method: 'topk', ms: 1.5, readPasses: 5, selected: 1000 },
    { d: 1e6, density: 0.01, backend: 'cpu', method: 'topk', ms: 2, readPasses: 6, selected: 10000 },
    { d: 1e6, density: 0.001, backend: 'cpu', method: 'gaussiank', ms: 0.7, readPasses: 2.3, selected: 999 },
    { d: 1e6, density: 0.001, backend: 'webgpu', method: 'gaussiank', ms: 0, readPasses: 0, selected: 999 },
  ],
  peers: [
    { name: 'torch.sum (read pass)', density: null, ms: 0.06, d: 1e6 },
    { name: 'torch.topk', density: 0.001, ms: 2.9, d: 1e6 },
    { name: 'torch.topk', density: 0.01, ms: 3.9, d: 1e6 },
  ],
  peerVersions: {},
  notes: [],
};
const record: BenchRecord = { source: 'bench/results/2026-11-28-cpu-2core.json', results };

describe('log-log series of the benchmark', () => {
  it('builds one line per operator and backend, the read pass and the peers at one density', () => {
    const lines = benchLines(record, { density: 0.001 });
    const byLabel = Object.fromEntries(lines.map((l) => [l.label, l.points]));
    expect(byLabel['Top_k (cpu)']).toEqual([
      { x: 1e6, y: 1.5 },
      { x: 4e6, y: 6 },
    ]);
    expect(byLabel['Gaussian_k (cpu)']).toEqual([{ x: 1e6, y: 0.7 }]);
    // A zero time cannot sit on a log axis: that line has no points and is left out.
    expect(Object.keys(byLabel)).not.toContain('Gaussian_k (webgpu)');
    expect(byLabel['read pass (cpu), lower limit']).toEqual([
      { x: 1e6, y: 0.3 },
      { x: 4e6, y: 0.5 },
    ]);
    expect(byLabel['torch.topk']).toEqual([{ x: 1e6, y: 2.9 }]);
    expect(byLabel['torch.sum (read pass)']).toEqual([{ x: 1e6, y: 0.06 }]);
    expect(new Set(lines.map((l) => l.id)).size).toBe(lines.length);
  });

  it('filters by backend, method and peers, and names sources once several are shown', () => {
    const lines = benchLines(record, { density: 0.01, methods: ['gaussiank'], peers: false });
    expect(lines.map((l) => l.label)).toEqual(['read pass (cpu), lower limit']);
    const two = linesOf([record, { source: 'this session', results }], { density: 0.001, readPass: false });
    expect(two.some((l) => l.label === 'Top_k (cpu) — cpu-2core')).toBe(true);
    expect(two.some((l) => l.label === 'torch.topk — this session')).toBe(true);
  });

  it('every line is sorted by d with positive coordinates', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            d: fc.integer({ min: 0, max: 1 << 26 }),
            ms: fc.double({ min: -1, max: 1e4, noNaN: true }),
            method: fc.constantFrom('topk' as const, 'randk' as const),
          }),
        ),
        (ops) => {
          const r: BenchResults = {
            ...results,
            operators: ops.map((o) => ({ ...o, density: 0.001, backend: 'cpu', readPasses: 1, selected: 1 })),
          };
          for (const line of benchLines({ source: 's', results: r }, { density: 0.001 })) {
            for (let i = 0; i < line.points.length; i++) {
              expect(line.points[i]!.x).toBeGreaterThan(0);
              expect(line.points[i]!.y).toBeGreaterThan(0);
              if (i > 0) expect(line.points[i]!.x).toBeGreaterThan(line.points[i - 1]!.x);
            }
          }
        },
      ),
    );
  });

  it('lists densities, sizes and table rows', () => {
    expect(densitiesOf([results])).toEqual([0.001, 0.01]);
    expect(SIZE_PRESETS[0]).toBe(65536);
    expect(SIZE_PRESETS.at(-1)).toBe(2 ** 24);
    expect(formatSize(2 ** 20)).toBe('2^20');
    expect(formatSize(25e6)).toBe('25M');
    const rows = timingRows(record);
    expect(rows).toHaveLength(results.operators.length + results.peers.length + results.readPass.length);
    expect(rows[0]).toMatchObject({ kind: 'operator', d: 1e6 });
    expect(rows.at(-1)).toMatchObject({ kind: 'readPass', d: 4e6 });
  });

  it('parses number lists typed by hand', () => {
    expect(parseNumberList('2^20, 1e6 1000000', { min: 1, max: 2 ** 30, integer: true })).toEqual({
      values: [1e6, 2 ** 20],
      error: null,
    });
    expect(parseNumberList('0.001;0.01', { min: 1e-9, max: 1 }).values).toEqual([0.001, 0.01]);
    expect(parseNumberList('abc', { min: 0, max: 1 }).error).toMatch(/not a number/);
    expect(parseNumberList('2', { min: 0, max: 1, name: 'density' }).error).toMatch(/density 2 must be between/);
    expect(parseNumberList('1.5', { min: 0, max: 10, integer: true }).error).toMatch(/whole number/);
    expect(parseNumberList('', { min: 0, max: 1 })).toEqual({ values: [], error: null });
  });
});

describe('projection tables', () => {
  const preset = CLUSTER_PRESETS.find((p) => p.id === '16gpu-10gbe')!;
  const row = (runId: string, method: 'dense' | 'topk', seed: number, computeMs: number): ProjectionRow => ({
    runId,
    arm: method === 'dense' ? 'Dense' : 'Top_k',
    seed,
    armConfig: {
      method,
      density: method === 'dense' ? undefined : 0.001,
      errorFeedback: true,
      seed: 0,
      sampleRatio: 0.01,
    } as ProjectionRow['armConfig'],
    measured: {
      computeSeconds: computeMs / 1000,
      compressSeconds: method === 'dense' ? 0.001 : 0.004,
      updateSeconds: 0.002,
      d: 200_000,
      k: method === 'dense' ? 200_000 : 200,
      dense: method === 'dense',
    },
    meanComputeMs: computeMs,
    meanCompressMs: method === 'dense' ? 1 : 4,
    meanExchangeMs: 20,
    meanWaitMs: 5,
    meanUpdateMs: 2,
  });
  const rows = [row('d1', 'dense', 1, 25), row('t1', 'topk', 1, 25), row('t2', 'topk', 2, 24)];

  it('breaks the measured iteration down and projects it, speedup against Dense', () => {
    expect(measuredBreakdown(rows[0]!)).toEqual({
      computeMs: 25,
      compressMs: 1,
      exchangeMs: 15,
      waitMs: 5,
      updateMs: 2,
      totalMs: 48,
    });
    const lines = projectionLines(rows, preset);
    expect(lines.map((l) => l.label)).toEqual(['Dense', 'Top_k (seed 1)', 'Top_k (seed 2)']);
    expect(lines[0]!.speedup).toBeCloseTo(1, 12);
    // Dense compresses nothing on the cluster.
    expect(lines[0]!.projected!.compressMs).toBe(0);
    expect(lines[1]!.speedup).toBeCloseTo(projectedSpeedup(preset, rows[1]!.measured!, rows[0]!.measured!), 12);
    const p = lines[1]!.projected!;
    expect(p.totalMs).toBeCloseTo(p.computeMs + p.compressMs + p.exchangeMs + p.updateMs, 9);
    // Seed 2 has no Dense of its own: it is compared with the first one.
    expect(lines[2]!.speedup).toBeCloseTo(projectedSpeedup(preset, rows[2]!.measured!, rows[0]!.measured!), 12);
  });

  it('gives a speedup per preset, null without a Dense arm', () => {
    const table = speedupTable(rows, CLUSTER_PRESETS);
    expect(table).toHaveLength(3);
    expect(table[1]!.speedups).toHaveLength(CLUSTER_PRESETS.length);
    expect(speedupTable([rows[1]!], CLUSTER_PRESETS)[0]!.speedups.every((s) => s === null)).toBe(true);
    expect(projectionLines([{ ...rows[1]!, measured: null, meanComputeMs: null }], preset)[0]).toMatchObject({
      measured: null,
      projected: null,
      speedup: null,
    });
  });

  it('edits a preset in place: valid fields apply, bad ones are refused with a reason', () => {
    const draft = draftOf(preset);
    expect(applyDraft(preset, draft)).toEqual({ preset, errors: {}, edited: false });
    // beta / 10 in binary prints long; the draft shows it short and still stands for the exact value.
    const derived = CLUSTER_PRESETS.find((p) => p.id === '16gpu-10gbe')!;
    expect(draftOf(derived).largeBeta).toBe('1.7e-9');
    expect(applyDraft(derived, draftOf(derived)).edited).toBe(false);
    expect(applyDraft(derived, { ...draftOf(derived), largeBeta: '1.8e-9' }).preset.allgather.large.beta).toBe(1.8e-9);
    const edited = applyDraft(preset, { ...draft, workers: '32', allreduceBeta: '-1', smallAlpha: 'x', largeBeta: '' });
    expect(edited.preset.workers).toBe(32);
    expect(edited.preset.allreduce.beta).toBe(preset.allreduce.beta);
    expect(Object.keys(edited.errors).sort()).toEqual(['allreduceBeta', 'largeBeta', 'smallAlpha']);
    expect(edited.edited).toBe(true);
    expect(parseField('workers', '2.5')).toHaveProperty('error');
    expect(parseField('workers', '0')).toHaveProperty('error');
    expect(parseField('allreduceAlpha', '1e-4')).toEqual({ value: 1e-4 });
    expect(parseField('allreduceAlpha', '100')).toHaveProperty('error');
    expect(parseField('largeBeta', '2')).toHaveProperty('error');
    // The preset from a draft never carries NaN or a negative cost, whatever was typed.
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const p = applyDraft(preset, { ...draft, allreduceAlpha: a, workers: b }).preset;
        expect(Number.isFinite(p.allreduce.alpha) && p.allreduce.alpha >= 0).toBe(true);
        expect(Number.isInteger(p.workers) && p.workers >= 1).toBe(true);
      }),
    );
  });
});

import { CLUSTER_PRESETS, projectedSpeedup, type MeasuredIteration } from '../../../common/clusterModel';
import type { Arm } from '../../../common/experiment';
import type { RunSummary, Store } from '../store';

/** The presets the comparison table projects onto; every preset stays available to the app. */
export const TABLE_PRESETS = ['16gpu-10gbe', '16gpu-1gbe'];

export interface ComparisonRow {
  summary: RunSummary;
  armConfig: Arm;
  /** Model size and mean coordinates sent per iteration (k summed over tensors). */
  d: number | null;
  k: number | null;
  /** The measured iteration the projection starts from; null until the run has records. */
  measured: MeasuredIteration | null;
  /** Projected speedup over the experiment's Dense arm, per preset id; null without a Dense arm. */
  speedups: Record<string, number | null>;
}

/**
 * What one of the run's iterations measured, per rank; null before it has iterations and statistics.
 * Phase times leave out the time the rank waited for a CPU (more workers than cores here): on the
 * cluster each worker has its own device, so that wait is not part of what the projection scales.
 */
export function measuredIteration(store: Store, summary: RunSummary, dense: boolean): MeasuredIteration | null {
  const layerStats = store.layerStatsSeries(summary.runId);
  const firstIteration = layerStats[0]?.iteration;
  const d = layerStats.filter((s) => s.iteration === firstIteration).reduce((n, s) => n + s.d, 0);
  // What each worker sent, not the k asked for: Gaussian_k and DGC_k select more or fewer than k.
  const ks = store
    .iterationSeries(summary.runId, { columns: ['selected', 'k'] })
    .map((p) => (p.selected ?? p.k) as number);
  if (d === 0 || ks.length === 0 || summary.meanComputeMs === null) return null;
  return {
    computeSeconds: withoutCpuWait(summary.meanComputeMs, summary.meanComputeCpuWaitMs) / 1000,
    compressSeconds: withoutCpuWait(summary.meanCompressMs, summary.meanCompressCpuWaitMs) / 1000,
    updateSeconds: withoutCpuWait(summary.meanUpdateMs, summary.meanUpdateCpuWaitMs) / 1000,
    d,
    k: ks.reduce((a, b) => a + b, 0) / ks.length,
    dense,
  };
}

/** A phase's mean in ms without its wait for a CPU (absent where the OS does not say). */
export function withoutCpuWait(meanMs: number | null, cpuWaitMs: number | null): number {
  return Math.max(0, (meanMs ?? 0) - (cpuWaitMs ?? 0));
}

/**
 * What the framework adds to compute, as a fraction of the iteration: compression, the exchange
 * without the time spent waiting for slower ranks (load imbalance), and the update.
 */
export function overheadOf(s: RunSummary): number | null {
  if (s.meanIterationMs === null || s.meanIterationMs === 0) return null;
  const exchange = (s.meanExchangeMs ?? 0) - (s.meanWaitMs ?? 0);
  return ((s.meanCompressMs ?? 0) + exchange + (s.meanUpdateMs ?? 0)) / s.meanIterationMs;
}

/**
 * The same share for a rank that never waits: every phase without its wait for a CPU, and the
 * exchange also without the wait for slower ranks. What the framework adds where each worker has a
 * core or a device of its own; null where the OS does not report CPU waits.
 */
export function activeOverheadOf(s: RunSummary): number | null {
  const { meanCpuWaitMs: afterCompute, meanComputeCpuWaitMs: inCompute } = s;
  if (s.meanComputeMs === null || afterCompute === null || inCompute === null) return null;
  const compress = withoutCpuWait(s.meanCompressMs, s.meanCompressCpuWaitMs);
  const update = withoutCpuWait(s.meanUpdateMs, s.meanUpdateCpuWaitMs);
  const exchangeCpuWait = afterCompute - (s.meanCompressCpuWaitMs ?? 0) - (s.meanUpdateCpuWaitMs ?? 0);
  const exchange = (s.meanExchangeMs ?? 0) - (s.meanWaitMs ?? 0) - exchangeCpuWait;
  const framework = compress + exchange + update;
  const total = withoutCpuWait(s.meanComputeMs, inCompute) + framework;
  return total > 0 ? framework / total : null;
}

/** Every run of an experiment, newest first, each projected against the experiment's Dense arm. */
export function compareRuns(store: Store, experimentId: string, options: { target?: number } = {}): ComparisonRow[] {
  return compareRunIds(
    store,
    store.listRuns({ experimentId }).map((r) => r.id),
    options,
  );
}

/**
 * The listed runs in the given order, from any experiments; each one's speedups are against the Dense arm of
 * its own experiment (a finished Dense run of the same seed when there is one, else any Dense run with records).
 */
export function compareRunIds(
  store: Store,
  runIds: readonly string[],
  options: { target?: number } = {},
): ComparisonRow[] {
  const baselines = new Map<string, Map<number, MeasuredIteration | null>>();
  const denseOf = (experimentId: string, seed: number): MeasuredIteration | null => {
    let bySeed = baselines.get(experimentId);
    if (!bySeed) {
      bySeed = new Map();
      const dense = store.listRuns({ experimentId }).filter((r) => r.armConfig.method === 'dense');
      // Finished runs first, so a half-done Dense run does not stand in for a finished one.
      dense.sort((a, b) => Number(b.status === 'finished') - Number(a.status === 'finished'));
      for (const run of dense) {
        const m = measuredIteration(store, store.summary(run.id, options), true);
        if (!m) continue;
        if (!bySeed.has(run.seed)) bySeed.set(run.seed, m);
        if (!bySeed.has(-1)) bySeed.set(-1, m);
      }
      baselines.set(experimentId, bySeed);
    }
    return bySeed.get(seed) ?? bySeed.get(-1) ?? null;
  };
  return runIds.map((runId) => {
    const run = store.getRun(runId);
    const summary = store.summary(runId, options);
    const isDense = run.armConfig.method === 'dense';
    const mine = measuredIteration(store, summary, isDense);
    const dense = denseOf(run.experimentId, run.seed);
    const speedups = Object.fromEntries(
      CLUSTER_PRESETS.map((preset) => [preset.id, mine && dense ? projectedSpeedup(preset, mine, dense) : null]),
    );
    return { summary, armConfig: run.armConfig, d: mine?.d ?? null, k: mine?.k ?? null, measured: mine, speedups };
  });
}

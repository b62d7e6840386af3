import { CLUSTER_PRESETS, projectedSpeedup, type MeasuredIteration } from '../../../common/clusterModel';
import type { RunSummary, Store } from '../store';

/** The presets the comparison table projects onto; every preset stays available to the app. */
export const TABLE_PRESETS = ['16gpu-10gbe', '16gpu-1gbe'];

export interface ComparisonRow {
  summary: RunSummary;
  /** Model size and mean coordinates sent per iteration (k summed over tensors). */
  d: number | null;
  k: number | null;
  /** Projected speedup over the experiment's Dense arm, per preset id; null without a Dense arm. */
  speedups: Record<string, number | null>;
}

function measured(store: Store, summary: RunSummary, dense: boolean): MeasuredIteration | null {
  const layerStats = store.layerStatsSeries(summary.runId);
  const firstIteration = layerStats[0]?.iteration;
  const d = layerStats.filter((s) => s.iteration === firstIteration).reduce((n, s) => n + s.d, 0);
  const ks = store.iterationSeries(summary.runId, { columns: ['k'] }).map((p) => p.k as number);
  if (d === 0 || ks.length === 0 || summary.meanComputeMs === null) return null;
  return {
    computeSeconds: summary.meanComputeMs / 1000,
    compressSeconds: (summary.meanCompressMs ?? 0) / 1000,
    updateSeconds: (summary.meanUpdateMs ?? 0) / 1000,
    d,
    k: ks.reduce((a, b) => a + b, 0) / ks.length,
    dense,
  };
}

export function compareRuns(store: Store, experimentId: string): ComparisonRow[] {
  const summaries = store.summaries(experimentId);
  const runs = new Map(store.listRuns({ experimentId }).map((r) => [r.id, r]));
  const denseSummary = summaries.find((s) => runs.get(s.runId)?.armConfig.method === 'dense');
  const dense = denseSummary ? measured(store, denseSummary, true) : null;
  return summaries.map((summary) => {
    const isDense = runs.get(summary.runId)?.armConfig.method === 'dense';
    const mine = measured(store, summary, isDense);
    const speedups = Object.fromEntries(
      CLUSTER_PRESETS.map((preset) => [preset.id, mine && dense ? projectedSpeedup(preset, mine, dense) : null]),
    );
    return { summary, d: mine?.d ?? null, k: mine?.k ?? null, speedups };
  });
}

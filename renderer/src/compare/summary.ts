/** The summary table's cells: formatting and the projected speedups, kept out of the component so they are tested. */
import type { RunAnnotation } from '../../../common/annotations';
import type { RunComparison } from '../../../common/api';
import { projectedSpeedup, type ClusterPreset } from '../../../common/clusterModel';

export interface Speedup {
  value: number | null;
  /** True when the run's experiment has no Dense run to compare with and Dense was modelled from this run. */
  modelled: boolean;
}

/**
 * Projected speedup over Dense on a preset as the user set it (Cluster's edits included): against the
 * experiment's Dense run among `rows`, else the core's (on the unedited preset), else against a Dense
 * modelled from this run's own compute and update times.
 */
export function speedupFor(
  row: RunComparison,
  preset: ClusterPreset,
  rows: readonly RunComparison[] = [],
  edited = false,
): Speedup {
  if (row.armConfig.method === 'dense') return { value: row.measured ? 1 : null, modelled: false };
  if (!row.measured) return { value: null, modelled: false };
  const dense = rows.find((r) => r.experimentId === row.experimentId && r.armConfig.method === 'dense' && r.measured);
  if (dense) return { value: projectedSpeedup(preset, row.measured, dense.measured!), modelled: false };
  const given = row.speedups[preset.id];
  if (!edited && given !== null && given !== undefined) return { value: given, modelled: false };
  return { value: projectedSpeedup(preset, row.measured, { ...row.measured, dense: true }), modelled: true };
}

export function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function fmtNumber(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return Number(v.toPrecision(digits)).toString();
}

export function fmtPercent(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return `${(v * 100).toFixed(2)}%`;
}

export function fmtBytes(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return Math.round(v).toLocaleString('en-US');
}

export function fmtSeconds(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  const s = ms / 1000;
  return s >= 600 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`;
}

export function fmtSpeedup(s: Speedup): string {
  if (s.value === null) return '–';
  return `${s.modelled ? '≈' : ''}${s.value.toFixed(2)}×`;
}

type Evaluated = Pick<RunComparison, 'finalPerplexity' | 'finalAccuracy' | 'bestPerplexity' | 'bestAccuracy'>;

/** One run's final evaluation: its perplexity where it records one (language models), else its accuracy. */
export function fmtFinal(row: Evaluated): string {
  return row.finalPerplexity !== null ? fmtNumber(row.finalPerplexity) : fmtPercent(row.finalAccuracy);
}

/** One run's best evaluation, as fmtFinal. */
export function fmtBest(row: Evaluated): string {
  return row.bestPerplexity !== null ? fmtNumber(row.bestPerplexity) : fmtPercent(row.bestAccuracy);
}

/** Whether the table shows perplexity (language models) rather than accuracy. */
export function usesPerplexity(rows: readonly RunComparison[]): boolean {
  return rows.some((r) => r.finalPerplexity !== null) && rows.every((r) => r.finalAccuracy === null);
}

export function timeToTarget(row: RunComparison): string {
  if (!row.target) return '–';
  if (!row.target.reached) return 'not reached';
  return `${fmtSeconds(row.target.wallMs)} (it ${row.target.iteration ?? '?'})`;
}

/** The table as rows of plain values, for the CSV export. */
export function summaryRows(
  rows: readonly RunComparison[],
  presets: readonly ClusterPreset[],
  edited: ReadonlySet<string> = new Set(),
  annotations: Readonly<Record<string, RunAnnotation>> = {},
): { header: string[]; rows: (string | number | null)[][] } {
  const perplexity = usesPerplexity(rows);
  const header = [
    'run',
    'name',
    'tags',
    'notes',
    'arm',
    'seed',
    'status',
    'iterations',
    'final_loss',
    perplexity ? 'final_perplexity' : 'final_accuracy',
    perplexity ? 'best_perplexity' : 'best_accuracy',
    'target',
    'target_reached_ms',
    'target_reached_iteration',
    'mean_iteration_ms',
    'compute_ms',
    'compress_ms',
    'exchange_ms',
    'wait_ms',
    'update_ms',
    'cpu_wait_ms',
    'compute_cpu_wait_ms',
    'compress_cpu_wait_ms',
    'update_cpu_wait_ms',
    'bytes_sent_per_iteration',
    ...presets.map((p) => `speedup_${p.id}${edited.has(p.id) ? '_edited' : ''}`),
  ];
  const out = rows.map((r) => [
    r.runId,
    annotations[r.runId]?.name ?? null,
    annotations[r.runId]?.tags.join(', ') ?? null,
    annotations[r.runId]?.notes || null,
    r.arm,
    r.seed,
    r.status,
    r.iterations,
    r.finalLoss,
    perplexity ? r.finalPerplexity : r.finalAccuracy,
    perplexity ? r.bestPerplexity : r.bestAccuracy,
    r.target?.value ?? null,
    r.target?.reached ? r.target.wallMs : null,
    r.target?.reached ? r.target.iteration : null,
    r.meanIterationMs,
    r.meanComputeMs,
    r.meanCompressMs,
    r.meanExchangeMs,
    r.meanWaitMs,
    r.meanUpdateMs,
    r.meanCpuWaitMs,
    r.meanComputeCpuWaitMs,
    r.meanCompressCpuWaitMs,
    r.meanUpdateCpuWaitMs,
    r.meanBytesSent,
    ...presets.map((p) => speedupFor(r, p, rows, edited.has(p.id)).value),
  ]);
  return { header, rows: out };
}

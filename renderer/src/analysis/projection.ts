/**
 * Cluster projection (common/clusterModel.ts) for Compare's rows: the iteration time measured here
 * against the one projected on a preset, speedups over Dense for every preset, and the in-place
 * editing of a preset's parameters (text fields parsed and checked, bad values refused).
 */
import type { RunComparison } from '../../../common/api';
import { armLabel } from '../compare/names';
import {
  projectedSpeedup,
  projectIteration,
  type ClusterPreset,
  type LinearCost,
  type MeasuredIteration,
} from '../../../common/clusterModel';

export type ProjectionRow = Pick<
  RunComparison,
  | 'runId'
  | 'arm'
  | 'seed'
  | 'armConfig'
  | 'measured'
  | 'meanComputeMs'
  | 'meanCompressMs'
  | 'meanExchangeMs'
  | 'meanWaitMs'
  | 'meanUpdateMs'
>;

export const PRESET_FIELDS = [
  'workers',
  'allreduceAlpha',
  'allreduceBeta',
  'smallAlpha',
  'smallBeta',
  'largeAlpha',
  'largeBeta',
] as const;
export type PresetField = (typeof PRESET_FIELDS)[number];
export type PresetDraft = Record<PresetField, string>;

export const PRESET_FIELD_LABELS: Record<PresetField, { label: string; unit: string }> = {
  workers: { label: 'workers P', unit: '' },
  allreduceAlpha: { label: 'allreduce α', unit: 's' },
  allreduceBeta: { label: 'allreduce β', unit: 's/B' },
  smallAlpha: { label: 'allgather < 1 MiB α', unit: 's' },
  smallBeta: { label: 'allgather < 1 MiB β', unit: 's/B' },
  largeAlpha: { label: 'allgather ≥ 1 MiB α', unit: 's' },
  largeBeta: { label: 'allgather ≥ 1 MiB β', unit: 's/B' },
};

/** Upper limits that still describe a network (one minute of latency, one second per byte). */
const MAX_ALPHA = 60;
const MAX_BETA = 1;
const MAX_WORKERS = 65_536;

function costField(preset: ClusterPreset, field: PresetField): number {
  switch (field) {
    case 'workers':
      return preset.workers;
    case 'allreduceAlpha':
      return preset.allreduce.alpha;
    case 'allreduceBeta':
      return preset.allreduce.beta;
    case 'smallAlpha':
      return preset.allgather.small.alpha;
    case 'smallBeta':
      return preset.allgather.small.beta;
    case 'largeAlpha':
      return preset.allgather.large.alpha;
    case 'largeBeta':
      return preset.allgather.large.beta;
  }
}

/** 12 significant digits: 1.7e-9, not the 1.7000000000000001e-9 that beta / 10 leaves in binary. */
const fieldText = (v: number): string => String(Number(v.toPrecision(12)));

export function draftOf(preset: ClusterPreset): PresetDraft {
  return Object.fromEntries(PRESET_FIELDS.map((f) => [f, fieldText(costField(preset, f))])) as PresetDraft;
}

/** The value a field's text stands for, or the reason it is refused. */
export function parseField(field: PresetField, text: string): { value: number } | { error: string } {
  const t = text.trim();
  if (t === '') return { error: 'required' };
  const v = Number(t);
  if (!Number.isFinite(v)) return { error: `"${t}" is not a number` };
  if (field === 'workers') {
    if (!Number.isInteger(v) || v < 1) return { error: 'a whole number of workers, at least 1' };
    if (v > MAX_WORKERS) return { error: `at most ${MAX_WORKERS}` };
    return { value: v };
  }
  if (v < 0) return { error: 'cannot be negative' };
  const isAlpha = field.endsWith('Alpha');
  if (isAlpha && v > MAX_ALPHA) return { error: `at most ${MAX_ALPHA} s` };
  if (!isAlpha && v > MAX_BETA) return { error: `at most ${MAX_BETA} s per byte` };
  return { value: v };
}

export interface AppliedDraft {
  /** The base preset with every valid field of the draft applied; refused fields keep the base's value. */
  preset: ClusterPreset;
  errors: Partial<Record<PresetField, string>>;
  /** Whether the preset differs from the base. */
  edited: boolean;
}

export function applyDraft(base: ClusterPreset, draft: PresetDraft): AppliedDraft {
  const errors: Partial<Record<PresetField, string>> = {};
  const values = {} as Record<PresetField, number>;
  for (const f of PRESET_FIELDS) {
    // The base's own text stands for the base's exact value.
    if (draft[f].trim() === fieldText(costField(base, f))) {
      values[f] = costField(base, f);
      continue;
    }
    const parsed = parseField(f, draft[f]);
    if ('error' in parsed) {
      errors[f] = parsed.error;
      values[f] = costField(base, f);
    } else values[f] = parsed.value;
  }
  const cost = (alpha: number, beta: number): LinearCost => ({ alpha, beta });
  const preset: ClusterPreset = {
    ...base,
    workers: values.workers,
    allreduce: cost(values.allreduceAlpha, values.allreduceBeta),
    allgather: { small: cost(values.smallAlpha, values.smallBeta), large: cost(values.largeAlpha, values.largeBeta) },
  };
  const edited = PRESET_FIELDS.some((f) => costField(preset, f) !== costField(base, f));
  return { preset, errors, edited };
}

export interface Breakdown {
  computeMs: number;
  compressMs: number;
  /** Transfer: the exchange less the waiting for other ranks (measured) or the model's time (projected). */
  exchangeMs: number;
  /** Measured only: waiting at the hub for slower ranks (load imbalance). */
  waitMs: number;
  updateMs: number;
  totalMs: number;
}

export function measuredBreakdown(row: ProjectionRow): Breakdown | null {
  if (row.meanComputeMs === null) return null;
  const compute = row.meanComputeMs;
  const compress = row.meanCompressMs ?? 0;
  const exchange = row.meanExchangeMs ?? 0;
  const wait = Math.min(row.meanWaitMs ?? 0, exchange);
  const update = row.meanUpdateMs ?? 0;
  return {
    computeMs: compute,
    compressMs: compress,
    exchangeMs: exchange - wait,
    waitMs: wait,
    updateMs: update,
    totalMs: compute + compress + exchange + update,
  };
}

export function projectedBreakdown(preset: ClusterPreset, measured: MeasuredIteration): Breakdown {
  const p = projectIteration(preset, measured);
  return {
    computeMs: p.computeSeconds * 1000,
    compressMs: p.compressSeconds * 1000,
    exchangeMs: p.exchangeSeconds * 1000,
    waitMs: 0,
    updateMs: p.updateSeconds * 1000,
    totalMs: p.totalSeconds * 1000,
  };
}

export const isDense = (row: ProjectionRow): boolean => row.armConfig.method === 'dense';

/** The Dense row a row is compared with: same seed when there is one, else the first measured Dense row. */
export function denseFor(rows: ProjectionRow[], row: ProjectionRow): ProjectionRow | null {
  const dense = rows.filter((r) => isDense(r) && r.measured !== null);
  return dense.find((r) => r.seed === row.seed) ?? dense[0] ?? null;
}

export function rowLabel(rows: ProjectionRow[], row: ProjectionRow): string {
  const seeds = new Set(rows.filter((r) => r.arm === row.arm).map((r) => r.seed));
  const arm = armLabel(row.arm, row.armConfig.method);
  return seeds.size > 1 ? `${arm} (seed ${row.seed})` : arm;
}

export interface ProjectionLine {
  runId: string;
  label: string;
  dense: boolean;
  measured: Breakdown | null;
  projected: Breakdown | null;
  /** Over the Dense arm on the preset; null without a measured Dense arm or without this row's measurement. */
  speedup: number | null;
  /** Measured here: Dense's iteration over this one's. */
  speedupHere: number | null;
}

export function projectionLines(rows: ProjectionRow[], preset: ClusterPreset): ProjectionLine[] {
  return rows.map((row) => {
    const dense = denseFor(rows, row);
    const measured = measuredBreakdown(row);
    const denseMeasured = dense ? measuredBreakdown(dense) : null;
    return {
      runId: row.runId,
      label: rowLabel(rows, row),
      dense: isDense(row),
      measured,
      projected: row.measured ? projectedBreakdown(preset, { ...row.measured, dense: isDense(row) }) : null,
      speedup: row.measured && dense?.measured ? projectedSpeedup(preset, row.measured, dense.measured) : null,
      speedupHere: measured && denseMeasured && measured.totalMs > 0 ? denseMeasured.totalMs / measured.totalMs : null,
    };
  });
}

/** Speedup over Dense per row (rows) and preset (columns). */
export function speedupTable(
  rows: ProjectionRow[],
  presets: ClusterPreset[],
): { runId: string; label: string; speedups: (number | null)[] }[] {
  return rows.map((row) => {
    const dense = denseFor(rows, row);
    return {
      runId: row.runId,
      label: rowLabel(rows, row),
      speedups: presets.map((p) =>
        row.measured && dense?.measured ? projectedSpeedup(p, row.measured, dense.measured) : null,
      ),
    };
  });
}

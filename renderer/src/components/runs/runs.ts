/** Pure helpers of the Runs view: what a run can do, its progress, how long it took, filtering and grouping. */
import type { RunStatus } from '../../../../common/metrics';
import type { RunAnnotation } from '../../../../common/annotations';
import type { RunRow } from '../../../../common/runs';
import { SPARSIFIER_LABELS } from '../../../../common/sparsifier';

export const CANCELLABLE: readonly RunStatus[] = ['running', 'queued', 'waiting'];
export const RESUMABLE: readonly RunStatus[] = ['interrupted', 'failed', 'cancelled'];
/** Statuses where the run still holds workers or is about to: deleting them would pull them from under it. */
export const ACTIVE: readonly RunStatus[] = ['running', 'queued', 'waiting'];

export const STATUS_COLORS: Record<RunStatus, string> = {
  queued: '#66788a',
  running: '#2563eb',
  waiting: '#b7791f',
  finished: '#1e8e3e',
  failed: '#c0392b',
  cancelled: '#7b8794',
  interrupted: '#d97706',
};

export interface ProgressLike {
  epoch: number;
  epochs: number;
  iteration: number;
  etaSeconds: number | null;
}

export interface RunProgress {
  /** 0..1, or null when nothing is known. */
  fraction: number | null;
  /** "3.2 / 8 epochs", or "1,200 / 3,750 it." without the epoch count. */
  label: string;
  etaSeconds: number | null;
}

/** Progress of a run: the live one when events arrived, else what the store last recorded. */
export function runProgress(run: RunRow, live: ProgressLike | undefined, epochs: number | null): RunProgress {
  if (run.status === 'finished')
    return { fraction: 1, label: epochs !== null ? `${epochs} / ${epochs} epochs` : 'done', etaSeconds: null };
  if (live && live.epochs > 0) {
    return {
      fraction: clamp(live.epoch / live.epochs),
      label: `${fmtEpoch(live.epoch)} / ${live.epochs} epochs`,
      etaSeconds: run.status === 'running' ? live.etaSeconds : null,
    };
  }
  if (run.iteration !== null && run.totalIterations) {
    const fraction = clamp((run.iteration + 1) / run.totalIterations);
    const label =
      epochs !== null && run.epoch !== null
        ? `${fmtEpoch(run.epoch)} / ${epochs} epochs`
        : `${(run.iteration + 1).toLocaleString()} / ${run.totalIterations.toLocaleString()} it.`;
    return { fraction, label, etaSeconds: null };
  }
  return {
    fraction: run.status === 'queued' ? 0 : null,
    label: epochs !== null ? `0 / ${epochs} epochs` : '',
    etaSeconds: null,
  };
}

function clamp(x: number): number {
  return Math.min(1, Math.max(0, x));
}

function fmtEpoch(epoch: number): string {
  return Number.isInteger(epoch) ? String(epoch) : epoch.toFixed(1);
}

/** ended - started, or now - started while the run goes on; null before it started. */
export function durationMs(run: RunRow, now: number): number | null {
  if (run.started === null) return null;
  return (run.ended ?? (ACTIVE.includes(run.status) ? now : run.started)) - run.started;
}

/** 42 s, 3 min 05 s, 2 h 10 min. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** 2026-11-28 17:40:12, local time. */
export function formatTime(ms: number | null): string {
  if (ms === null) return '-';
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export interface RunFilterState {
  experimentId: string;
  /** '' = every status. */
  status: string;
  text: string;
}

/**
 * The runs a search keeps. Every word must be found in the run's own text (arm, method, seed, id,
 * status, failure reason, name, notes, tags) or its experiment's name, and at least one in its own:
 * "gaussian mnist" finds the Gaussian_k runs of the MNIST experiment, not every run of it. A search
 * that only names experiments keeps their runs.
 */
export function filterRuns(
  runs: readonly RunRow[],
  filter: RunFilterState,
  annotations: Readonly<Record<string, RunAnnotation>> = {},
): RunRow[] {
  const words = filter.text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const kept = runs.filter(
    (r) =>
      (filter.experimentId === '' || r.experimentId === filter.experimentId) &&
      (filter.status === '' || r.status === filter.status),
  );
  if (words.length === 0) return kept;
  const own = (r: RunRow): string => {
    const a = annotations[r.id];
    const method = SPARSIFIER_LABELS[r.armConfig.method];
    return `${r.arm} ${method} seed ${r.seed} ${r.id} ${r.status} ${r.failureReason ?? ''} ${a?.name ?? ''} ${a?.notes ?? ''} ${a?.tags.join(' ') ?? ''}`.toLowerCase();
  };
  const byRun = kept.filter((r) => {
    const mine = own(r);
    const experiment = r.experimentName.toLowerCase();
    return words.every((w) => mine.includes(w) || experiment.includes(w)) && words.some((w) => mine.includes(w));
  });
  if (byRun.length > 0) return byRun;
  return kept.filter((r) => words.every((w) => r.experimentName.toLowerCase().includes(w)));
}

/**
 * Seconds until every running and queued run is done, run after run: a running run's own ETA, a
 * queued one the mean duration of its experiment's finished runs (else of the running one's pace).
 * Null when nothing is left or nothing is known yet.
 */
export function queueEtaSeconds(
  runs: readonly RunRow[],
  etaOf: (run: RunRow) => number | null,
  now: number,
): { runs: number; seconds: number | null } {
  const left = runs.filter((r) => ACTIVE.includes(r.status));
  if (left.length === 0) return { runs: 0, seconds: null };
  const typical = new Map<string, number>();
  const durations = new Map<string, number[]>();
  for (const r of runs) {
    if (r.status !== 'finished' || r.started === null || r.ended === null) continue;
    durations.set(r.experimentId, [...(durations.get(r.experimentId) ?? []), r.ended - r.started]);
  }
  for (const [id, d] of durations) typical.set(id, d.reduce((a, b) => a + b, 0) / d.length / 1000);
  for (const r of left) {
    const eta = etaOf(r);
    if (!typical.has(r.experimentId) && r.status === 'running' && eta !== null && r.started !== null)
      typical.set(r.experimentId, (now - r.started) / 1000 + eta);
  }
  let seconds = 0;
  for (const r of left) {
    const eta = r.status === 'running' ? etaOf(r) : null;
    const guess = eta ?? typical.get(r.experimentId);
    if (guess === undefined || guess === null) return { runs: left.length, seconds: null };
    seconds += guess;
  }
  return { runs: left.length, seconds };
}

export interface RunGroup {
  experimentId: string;
  experimentName: string;
  runs: RunRow[];
  counts: Partial<Record<RunStatus, number>>;
}

/**
 * Runs by experiment, newest experiment first (runs come newest first); within an experiment in the order
 * they were created (arm by arm, seed by seed).
 */
export function groupByExperiment(runs: readonly RunRow[]): RunGroup[] {
  const groups = new Map<string, RunGroup>();
  for (const run of runs) {
    let group = groups.get(run.experimentId);
    if (!group) {
      group = { experimentId: run.experimentId, experimentName: run.experimentName, runs: [], counts: {} };
      groups.set(run.experimentId, group);
    }
    group.runs.push(run);
    group.counts[run.status] = (group.counts[run.status] ?? 0) + 1;
  }
  for (const group of groups.values()) group.runs.reverse();
  return [...groups.values()];
}

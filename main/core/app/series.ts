import type { RunSeries } from '../../../common/api';
import { SERIES_COLUMNS, type SeriesColumn } from '../../../common/records';
import type { Store } from '../store';

/** A run's rank-0 curves, column-wise, decimated by the store to `points` iterations (bytesSentTotal summed before). */
export function runSeries(
  store: Store,
  runId: string,
  options: { columns?: readonly SeriesColumn[]; points?: number } = {},
): RunSeries {
  const columns = [...new Set(options.columns ?? SERIES_COLUMNS)];
  const rows = store.iterationSeries(runId, { columns, points: options.points });
  const out: RunSeries = { runId, iteration: rows.map((r) => r.iteration), columns: {}, evaluations: [] };
  for (const column of columns)
    out.columns[column] = rows.map((r) => (r as Record<string, number | undefined>)[column] ?? null);
  out.evaluations = store.evaluationSeries(runId);
  return out;
}

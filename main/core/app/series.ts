import { SERIES_COLUMNS, type RunSeries, type SeriesColumn } from '../../../common/api';
import type { IterationField, Store } from '../store';

/**
 * A run's rank-0 curves, column-wise. `bytesSentTotal` is summed over every iteration before `points`
 * decimates (iterations first + j * stride, and the last one, as the store decimates).
 */
export function runSeries(
  store: Store,
  runId: string,
  options: { columns?: readonly SeriesColumn[]; points?: number } = {},
): RunSeries {
  const columns = [...new Set(options.columns ?? SERIES_COLUMNS)];
  const wantsTotal = columns.includes('bytesSentTotal');
  const fields = new Set<IterationField>(
    columns.filter((c): c is Exclude<SeriesColumn, 'bytesSentTotal'> => c !== 'bytesSentTotal'),
  );
  if (wantsTotal) fields.add('bytesSent');
  const rows = store.iterationSeries(runId, { columns: [...fields] }) as unknown as Record<
    string,
    number | undefined
  >[];
  let total = 0;
  const totals = wantsTotal
    ? rows.map((r) => {
        total += r.bytesSent ?? 0;
        return total;
      })
    : [];
  const keep = decimate(
    rows.map((r) => r.iteration!),
    options.points,
  );
  const out: RunSeries = { runId, iteration: keep.map((i) => rows[i]!.iteration!), columns: {}, evaluations: [] };
  for (const column of columns) {
    out.columns[column] =
      column === 'bytesSentTotal' ? keep.map((i) => totals[i]!) : keep.map((i) => rows[i]![column] ?? null);
  }
  out.evaluations = store.evaluationSeries(runId);
  return out;
}

/** Indices of the iterations kept: first + j * stride (stride = ceil(span / (points - 1))) and the last. */
export function decimate(iterations: readonly number[], points: number | undefined): number[] {
  const all = iterations.map((_, i) => i);
  if (points === undefined || iterations.length <= points) return all;
  const first = iterations[0]!;
  const last = iterations[iterations.length - 1]!;
  const stride = Math.max(1, Math.ceil((last - first) / (points - 1)));
  return all.filter((i) => (iterations[i]! - first) % stride === 0 || i === iterations.length - 1);
}

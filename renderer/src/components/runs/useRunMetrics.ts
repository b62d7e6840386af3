import { onBeforeUnmount, shallowRef, watch, type Ref } from 'vue';
import type { RunComparison } from '../../../../common/api';
import { hasEnded } from '../../../../common/metrics';
import type { RunRow } from '../../../../common/runs';
import { api } from '../../api';

/** The API compares at most this many runs per call. */
const CHUNK = 100;

/**
 * Each run's summary (final and best accuracy, time to target, ms per iteration) for the runs table:
 * ended runs once (they do not change), running ones again whenever the list changes, at most every 5 s.
 */
export function useRunMetrics(runs: Ref<readonly RunRow[]>, active: Ref<boolean>): Ref<Map<string, RunComparison>> {
  const metrics = shallowRef(new Map<string, RunComparison>());
  let timer: ReturnType<typeof setTimeout> | null = null;
  let last = 0;

  async function refresh(): Promise<void> {
    const known = metrics.value;
    // A summary taken after its run ended is final; one taken while it ran is fetched again.
    const wanted = runs.value.filter((r) => {
      const had = known.get(r.id);
      return r.started !== null && !(had && hasEnded(had.status) && had.status === r.status);
    });
    if (wanted.length === 0) return;
    last = Date.now();
    const next = new Map(known);
    for (let i = 0; i < wanted.length; i += CHUNK) {
      const rows = await api.compare(wanted.slice(i, i + CHUNK).map((r) => r.id)).catch(() => []);
      for (const row of rows) next.set(row.runId, row);
    }
    metrics.value = next;
  }

  watch(
    [runs, active],
    () => {
      if (!active.value || timer) return;
      timer = setTimeout(
        () => {
          timer = null;
          void refresh();
        },
        Math.max(0, 5000 - (Date.now() - last)),
      );
    },
    { immediate: true },
  );
  onBeforeUnmount(() => {
    if (timer) clearTimeout(timer);
  });
  return metrics;
}

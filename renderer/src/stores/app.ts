import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { AppEvent, AppInfo, WorkerView } from '../../../common/api';
import type { RunRow } from '../../../common/runs';
import { api } from '../api';

export const VIEWS = ['designer', 'runs', 'workers', 'compare', 'gradients', 'kernels', 'cluster'] as const;
export type ViewName = (typeof VIEWS)[number];

export interface LiveProgress {
  iteration: number;
  epoch: number;
  epochs: number;
  loss: number;
  wallMs: number;
  /** Seconds left, from the pace so far. */
  etaSeconds: number | null;
}

/**
 * What every view shares: the app's info, the workers, the runs with their live progress, the
 * current view and the runs selected for Compare and Gradients. Kept fresh by pushed events.
 */
export const useAppStore = defineStore('app', () => {
  const info = ref<AppInfo | null>(null);
  const workers = ref<WorkerView[]>([]);
  const runs = ref<RunRow[]>([]);
  const progress = ref<Record<string, LiveProgress>>({});
  const view = ref<ViewName>(viewFromHash());
  const selectedRunIds = ref<string[]>([]);
  /** The last error an action hit, shown in the status bar until dismissed. */
  const error = ref<string | null>(null);
  const listeners = new Set<(event: AppEvent) => void>();

  const runsById = computed(() => new Map(runs.value.map((r) => [r.id, r])));

  function viewFromHash(): ViewName {
    const name = window.location.hash.replace(/^#\/?/, '');
    return (VIEWS as readonly string[]).includes(name) ? (name as ViewName) : 'designer';
  }

  function show(name: ViewName): void {
    view.value = name;
    // The hash keeps the view across reloads without losing the token in the query.
    window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}#/${name}`);
  }

  async function refreshRuns(): Promise<void> {
    runs.value = await api.runs({ limit: 1000 });
  }

  async function refreshWorkers(): Promise<void> {
    workers.value = await api.workers();
  }

  let refreshQueued = false;
  /** Coalesces bursts of run events into one refresh. */
  function queueRunsRefresh(): void {
    if (refreshQueued) return;
    refreshQueued = true;
    setTimeout(() => {
      refreshQueued = false;
      void attempt(refreshRuns);
    }, 150);
  }

  function onEvent(event: AppEvent): void {
    if (event.type === 'progress') {
      const fraction = event.epochs > 0 ? event.epoch / event.epochs : 0;
      const etaSeconds = fraction > 0 && fraction < 1 ? (event.wallMs / fraction - event.wallMs) / 1000 : null;
      progress.value[event.runId] = { ...event, etaSeconds };
      const run = runsById.value.get(event.runId);
      if (run) {
        run.iteration = event.iteration;
        run.epoch = event.epoch;
      }
    } else if (event.type === 'runStatus' || event.type === 'runsChanged') {
      queueRunsRefresh();
    } else if (event.type === 'workers') {
      workers.value = event.workers;
    }
    for (const listener of listeners) listener(event);
  }

  /** Views subscribe to the raw events they need (bench progress, logs); returns the unsubscribe. */
  function subscribe(listener: (event: AppEvent) => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Runs an action and shows its error instead of throwing it into the void. */
  async function attempt<T>(action: () => Promise<T>): Promise<T | undefined> {
    try {
      return await action();
    } catch (e) {
      error.value = (e as Error).message;
      return undefined;
    }
  }

  async function start(): Promise<void> {
    api.onEvent(onEvent);
    await attempt(async () => {
      info.value = await api.info();
      await Promise.all([refreshRuns(), refreshWorkers()]);
    });
  }

  return {
    info,
    workers,
    runs,
    runsById,
    progress,
    view,
    selectedRunIds,
    error,
    show,
    refreshRuns,
    refreshWorkers,
    subscribe,
    attempt,
    start,
  };
});

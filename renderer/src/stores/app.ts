import { defineStore } from 'pinia';
import { computed, ref, watch } from 'vue';
import type { AppEvent, AppInfo, WorkerView } from '../../../common/api';
import type { AnnotationPatch, RunAnnotation } from '../../../common/annotations';
import type { RunRow } from '../../../common/runs';
import { api } from '../api';

export const VIEWS = ['designer', 'runs', 'workers', 'compare', 'gradients', 'kernels', 'cluster'] as const;
export type ViewName = (typeof VIEWS)[number];

const SELECTION_KEY = 'runs.selection';

/** #/compare is a view; #/runs/ID is the Runs view with that run's page open. */
function parseRoute(hash: string): { view: ViewName; runId: string | null } {
  const [name, runId] = hash.replace(/^#\/?/, '').split('/');
  const view = (VIEWS as readonly string[]).includes(name ?? '') ? (name as ViewName) : 'designer';
  return { view, runId: view === 'runs' && runId ? decodeURIComponent(runId) : null };
}

function routeFromHash(): { view: ViewName; runId: string | null } {
  return parseRoute(window.location.hash);
}

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
  /** Names, notes and tags the user gave runs, by run id. */
  const annotations = ref<Record<string, RunAnnotation>>({});
  const progress = ref<Record<string, LiveProgress>>({});
  const view = ref<ViewName>(routeFromHash().view);
  /** The run whose page is open (#/runs/ID), or null. */
  const openRunId = ref<string | null>(routeFromHash().runId);
  const selectedRunIds = ref<string[]>([]);
  /** The last error an action hit, shown in the status bar until dismissed. */
  const error = ref<string | null>(null);
  const listeners = new Set<(event: AppEvent) => void>();

  const runsById = computed(() => new Map(runs.value.map((r) => [r.id, r])));

  function show(name: ViewName): void {
    view.value = name;
    if (name !== 'runs') openRunId.value = null;
    writeHash();
  }

  /** Opens a run's page: the Runs view with its detail, at #/runs/ID. */
  function openRun(runId: string | null): void {
    view.value = 'runs';
    openRunId.value = runId;
    writeHash();
  }

  // The hash keeps the view (and the open run) across reloads without losing the token in the query.
  function writeHash(): void {
    const hash = view.value === 'runs' && openRunId.value ? `#/runs/${openRunId.value}` : `#/${view.value}`;
    if (window.location.hash !== hash)
      window.history.pushState(null, '', `${window.location.pathname}${window.location.search}${hash}`);
  }

  // Links (#/runs/ID in Compare and Gradients) and the browser's back and forward buttons.
  window.addEventListener('hashchange', () => {
    const route = routeFromHash();
    view.value = route.view;
    openRunId.value = route.runId;
  });

  // The selection survives a reload (and a restart) like the views' settings.
  let selectionRestored = false;
  watch(selectedRunIds, (ids) => {
    if (selectionRestored) void api.saveDraft(SELECTION_KEY, JSON.stringify(ids)).catch(() => {});
  });
  async function restoreSelection(): Promise<void> {
    const saved = await api.loadDraft(SELECTION_KEY).catch(() => null);
    try {
      const ids = saved ? (JSON.parse(saved) as unknown) : [];
      if (Array.isArray(ids) && selectedRunIds.value.length === 0)
        selectedRunIds.value = ids.filter((id): id is string => typeof id === 'string' && runsById.value.has(id));
    } catch {
      // Not JSON: start with nothing selected.
    }
    selectionRestored = true;
  }

  async function refreshRuns(): Promise<void> {
    const [list, notes] = await Promise.all([api.runs({ limit: 1000 }), api.runAnnotations()]);
    runs.value = list;
    annotations.value = notes;
  }

  /** Changes a run's name, notes or tags; every view shows the change at once. */
  async function annotate(runId: string, patch: AnnotationPatch): Promise<void> {
    const stored = await attempt(() => api.annotateRun(runId, patch));
    if (stored) annotations.value = { ...annotations.value, [runId]: stored };
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
      await restoreSelection();
    });
  }

  return {
    info,
    workers,
    runs,
    runsById,
    annotations,
    annotate,
    progress,
    view,
    openRunId,
    selectedRunIds,
    error,
    show,
    openRun,
    refreshRuns,
    refreshWorkers,
    subscribe,
    attempt,
    start,
  };
});

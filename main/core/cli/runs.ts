import { writeFileSync } from 'node:fs';
import { describeGpus, placementProblem, type GpuInfo } from '../../../common/gpus';
import { capabilitiesSchema, type WorkerCapabilities } from '../../../common/protocol';
import type { WorkerRow } from '../../../common/runs';
import { startHub, type Hub } from '../hub';
import { discoverLocalGpus, localPlacement } from '../runtime/gpus';
import { LocalWorkers } from '../runtime/localWorkers';
import { Orchestrator } from '../runtime/orchestrator';
import { WorkerWatch } from '../runtime/workerWatch';
import { defaultDataDir, openStore, type CsvTable, type Store } from '../store';
import { describeDataFolderOwner } from '../store/owner';
import { formatCount, table } from './format';

const time = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19));

export function listRuns(dataDir: string | undefined, json: boolean): string {
  const store = openStore(dataDir);
  try {
    const runs = store.listRuns();
    if (json) return JSON.stringify(runs, null, 2);
    if (runs.length === 0) return 'no runs yet: sparselab run resources/experiments/quick-synthetic.yaml';
    return table([
      ['run', 'experiment', 'arm', 'seed', 'status', 'created', 'reason'],
      ...runs.map((r) => [
        r.id,
        r.experimentName,
        r.arm,
        String(r.seed),
        r.status,
        time(r.created),
        r.failureReason ?? '',
      ]),
    ]);
  } finally {
    store.close();
  }
}

export function showRun(dataDir: string | undefined, runId: string, json: boolean): string {
  const store = openStore(dataDir);
  try {
    const run = store.getRun(runId);
    const summary = store.summary(runId);
    if (json) return JSON.stringify({ run, summary }, null, 2);
    const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);
    return [
      `${run.id}: ${run.experimentName} / ${run.arm} (seed ${run.seed}), ${run.status}${run.failureReason ? ` (${run.failureReason})` : ''}`,
      '',
      table([
        ['iterations', formatCount(summary.iterations)],
        ['epoch', summary.lastEpoch?.toFixed(2) ?? '-'],
        ['final loss', summary.finalLoss?.toFixed(4) ?? '-'],
        ['final accuracy', pct(summary.finalAccuracy)],
        ['final perplexity', summary.finalPerplexity?.toFixed(1) ?? '-'],
        ['mean iteration (ms)', summary.meanIterationMs?.toFixed(2) ?? '-'],
        [
          'bytes sent / iteration',
          summary.meanBytesSent === null ? '-' : formatCount(Math.round(summary.meanBytesSent)),
        ],
        ['duration (s)', summary.durationMs === null ? '-' : (summary.durationMs / 1000).toFixed(1)],
      ]),
      '',
      'status history:',
      ...run.history.map((h) => `  ${time(h.time)}  ${h.from ?? '-'} -> ${h.to}${h.reason ? `  (${h.reason})` : ''}`),
      '',
      `checkpoints: ${run.checkpoints.map((c) => c.iteration).join(', ') || 'none'}`,
      `config: ${JSON.stringify(run.config)}`,
      `environment: ${JSON.stringify(run.environment)}`,
    ].join('\n');
  } finally {
    store.close();
  }
}

export function exportRun(
  dataDir: string | undefined,
  runId: string,
  format: 'csv' | 'json',
  table: CsvTable,
  out?: string,
): string {
  const store = openStore(dataDir);
  try {
    const text = format === 'json' ? JSON.stringify(store.exportJson(runId), null, 2) : store.exportCsv(runId, table);
    if (!out) return text;
    writeFileSync(out, text);
    return `wrote ${out}`;
  } finally {
    store.close();
  }
}

/** The workers that have joined (with the adapter each reported) and the GPUs of this machine. */
export async function listWorkers(
  dataDir: string | undefined,
  json: boolean,
  gpus: () => Promise<GpuInfo[]> = discoverLocalGpus,
): Promise<string> {
  const store = openStore(dataDir);
  let workers: WorkerRow[];
  try {
    workers = store.listWorkers();
  } finally {
    store.close();
  }
  const found = await gpus().catch((error: Error) => error);
  if (json)
    return JSON.stringify({ gpus: found instanceof Error ? { error: found.message } : found, workers }, null, 2);
  const adapter = (w: WorkerRow) => capabilitiesSchema.safeParse(w.capabilities).data?.adapter;
  const rows = table([
    ['worker', 'host', 'adapter', 'first seen', 'last seen'],
    ...workers.map((w) => [w.id, w.host, adapterText(adapter(w)), time(w.firstSeen), time(w.lastSeen)]),
  ]);
  const gpuLines = found instanceof Error ? `  ${found.message}` : describeGpus(found);
  return `${rows}\n\nGPUs of this machine:\n${gpuLines}`;
}

function adapterText(adapter: WorkerCapabilities['adapter']): string {
  if (!adapter) return '-';
  return adapter.index !== undefined ? `GPU ${adapter.index}: ${adapter.name} (${adapter.id})` : adapter.name;
}

/** Resumes an interrupted, failed or cancelled run from its last checkpoint, on local workers. */
export async function resumeRun(
  dataDir: string | undefined,
  runId: string,
  backend: 'auto' | 'cpu' | 'webgpu',
): Promise<string> {
  const folder = dataDir ?? defaultDataDir();
  const store = openStore(folder, { owner: 'resume' });
  let hub: Hub;
  let run: ReturnType<Store['getRun']>;
  let used: GpuInfo[];
  try {
    run = store.getRun(runId);
    // Before anything starts: the GPUs exist, and the ranks fit on them or may share them.
    ({ used } = await localPlacement(backend, null));
    const problem = placementProblem(run.config.workers, used, run.config.shareGpus ?? false);
    if (problem) throw new Error(problem);
    store.markInterrupted('the app restarted');
    hub = await startHub();
  } catch (error) {
    store.close();
    throw error;
  }
  describeDataFolderOwner(folder, `hub ${hub.url}`);
  const orchestrator = new Orchestrator(store, hub);
  const watch = new WorkerWatch(hub, orchestrator, store, () => [run]);
  const workers = new LocalWorkers({
    hubUrl: hub.url,
    token: hub.token,
    count: run.config.workers,
    backend,
    gpus: used,
    onLine: (i, line) => process.stderr.write(`[worker ${i}] ${line}\n`),
    onExit: (i, exit) => watch.exited(workers, i, exit),
  });
  orchestrator.on('status', (id, status, reason) =>
    process.stderr.write(`${id} ${status}${reason ? `: ${reason}` : ''}\n`),
  );
  orchestrator.on('log', (level, message) => process.stderr.write(`[${level}] ${message}\n`));
  try {
    orchestrator.resume(runId);
    await orchestrator.waitFor([runId]);
    if (watch.failure) throw new Error(watch.failure);
    return showRun(dataDir, runId, false);
  } finally {
    await orchestrator.close();
    workers.stop();
    await hub.close();
    store.close();
  }
}

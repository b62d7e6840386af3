import { writeFileSync } from 'node:fs';
import { startHub } from '../hub';
import { LocalWorkers } from '../runtime/localWorkers';
import { Orchestrator } from '../runtime/orchestrator';
import { WorkerWatch } from '../runtime/workerWatch';
import { openStore, type CsvTable } from '../store';
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

export function listWorkers(dataDir: string | undefined, json: boolean): string {
  const store = openStore(dataDir);
  try {
    const workers = store.listWorkers();
    if (json) return JSON.stringify(workers, null, 2);
    return table([
      ['worker', 'host', 'first seen', 'last seen'],
      ...workers.map((w) => [w.id, w.host, time(w.firstSeen), time(w.lastSeen)]),
    ]);
  } finally {
    store.close();
  }
}

/** Resumes an interrupted, failed or cancelled run from its last checkpoint, on local workers. */
export async function resumeRun(
  dataDir: string | undefined,
  runId: string,
  backend: 'auto' | 'cpu' | 'webgpu',
): Promise<string> {
  const store = openStore(dataDir);
  store.markInterrupted('the app restarted');
  const hub = await startHub();
  const orchestrator = new Orchestrator(store, hub);
  const run = store.getRun(runId);
  const watch = new WorkerWatch(hub, orchestrator, store, () => [run]);
  const workers = new LocalWorkers({
    hubUrl: hub.url,
    token: hub.token,
    count: run.config.workers,
    backend,
    onLine: (i, line) => process.stderr.write(`[worker ${i}] ${line}\n`),
    onExit: (i, exit) => watch.exited(workers, i, exit),
  });
  orchestrator.on('status', (id, status, reason) =>
    process.stderr.write(`${id} ${status}${reason ? `: ${reason}` : ''}\n`),
  );
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

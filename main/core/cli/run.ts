import type { EngineName, Experiment } from '../../../common/experiment';
import { describeGpus, placementProblem } from '../../../common/gpus';
import { loadExperiment } from '../experiments/load';
import { startHub, type Hub } from '../hub';
import { activeOverheadOf, compareRuns, overheadOf, TABLE_PRESETS, type ComparisonRow } from '../runtime/comparison';
import { localPlacement } from '../runtime/gpus';
import { LocalWorkers } from '../runtime/localWorkers';
import { Orchestrator, type RunProgress } from '../runtime/orchestrator';
import { WorkerWatch } from '../runtime/workerWatch';
import { defaultDataDir, openStore, type RunRow, type Store } from '../store';
import { describeDataFolderOwner } from '../store/owner';
import { formatCount, formatMs, table } from './format';

export interface RunOptions {
  set: string[];
  workers?: number;
  dataDir?: string;
  json: boolean;
  /** Overrides the experiment's own backend. */
  backend?: 'auto' | 'cpu' | 'webgpu';
  /** Overrides the experiment's engine. */
  engine?: EngineName;
  /** The torch engine's Python. */
  python?: string;
  /** Place the workers on these GPUs (numbers from `sparselab gpus`); default every hardware GPU. */
  gpus?: number[];
}

/** Runs every arm x seed of an experiment file on local workers and prints the comparison. */
export async function runExperimentFile(file: string, options: RunOptions): Promise<number> {
  const overrides = [
    ...options.set,
    ...(options.workers ? [`workers=${options.workers}`] : []),
    ...(options.engine ? [`engine=${options.engine}`] : []),
  ];
  const experiment = loadExperiment(file, overrides);
  const rows = await runLocally(experiment, {
    dataDir: options.dataDir,
    backend: options.backend ?? experiment.backend,
    gpus: options.gpus ?? null,
    sourceFile: file,
    progress: true,
    python: options.python,
  });
  console.log(options.json ? JSON.stringify(rows, null, 2) : formatComparison(rows));
  return rows.every((r) => r.summary.status === 'finished') ? 0 : 1;
}

export interface LocalRunOptions {
  dataDir?: string;
  backend: 'auto' | 'cpu' | 'webgpu';
  /** GPUs chosen by number; null: every hardware GPU (none for the cpu backend). */
  gpus?: number[] | null;
  sourceFile?: string;
  /** Progress bars and worker logs on stderr. */
  progress: boolean;
  /** The torch engine's Python (engine: torch). */
  python?: string;
}

/** Starts a hub and the experiment's workers on this machine, runs every arm x seed, and compares them. */
export async function runLocally(experiment: Experiment, options: LocalRunOptions): Promise<ComparisonRow[]> {
  // Before anything starts: the GPUs exist, and the ranks fit on them or may share them.
  // (The torch engine's ranks use CUDA's GPUs, not the workers' adapters.)
  const { used } =
    experiment.engine === 'native' ? await localPlacement(options.backend, options.gpus ?? null) : { used: [] };
  const problem = placementProblem(experiment.workers, used, experiment.shareGpus);
  if (problem) throw new Error(problem);
  if (options.progress && used.length > 0) {
    process.stderr.write(`workers on GPU${used.length === 1 ? '' : 's'}:\n${describeGpus(used)}\n`);
  }
  const dataDir = options.dataDir ?? defaultDataDir();
  const store = openStore(dataDir, { owner: 'run' });
  let hub: Hub;
  try {
    store.markInterrupted('the app restarted');
    hub = await startHub({
      log: (level, message) => level !== 'debug' && level !== 'info' && process.stderr.write(`[hub] ${message}\n`),
    });
  } catch (error) {
    store.close();
    throw error;
  }
  describeDataFolderOwner(dataDir, `hub ${hub.url}`);
  const orchestrator = new Orchestrator(store, hub, { torch: { python: options.python } });
  let runs: RunRow[] = [];
  const watch = new WorkerWatch(hub, orchestrator, store, () => runs);
  const workers = new LocalWorkers({
    hubUrl: hub.url,
    token: hub.token,
    count: experiment.engine === 'native' ? experiment.workers : 0, // torch runs bring their own ranks
    backend: options.backend,
    gpus: used,
    onLine: options.progress ? (i, line) => process.stderr.write(`[worker ${i}] ${line}\n`) : undefined,
    onExit: (i, exit) => watch.exited(workers, i, exit),
  });
  if (options.progress) {
    const progress = new ProgressLines(store);
    orchestrator.on('progress', (p) => progress.update(p));
    orchestrator.on('status', (runId, status, reason) => progress.status(runId, status, reason));
  }
  orchestrator.on('log', (level, message) => process.stderr.write(`[${level}] ${message}\n`));
  const stop = () => {
    workers.stop();
    process.exit(130);
  };
  process.once('SIGINT', stop);
  try {
    runs = orchestrator.submit(experiment, options.sourceFile);
    await orchestrator.waitFor(runs.map((r) => r.id));
    if (watch.failure) throw new Error(watch.failure);
    return compareRuns(store, runs[0]!.experimentId);
  } finally {
    process.off('SIGINT', stop);
    await orchestrator.close();
    workers.stop();
    await hub.close();
    store.close();
  }
}

/** One line per run on stderr: a bar, the epoch, the loss and an ETA. */
class ProgressLines {
  private readonly last = new Map<string, number>();
  constructor(private readonly store: Store) {}

  update(p: RunProgress): void {
    const fraction = Math.min(1, p.epoch / p.epochs);
    const step = Math.floor(fraction * 20);
    if (this.last.get(p.runId) === step) return;
    this.last.set(p.runId, step);
    const eta = fraction > 0 ? (p.wallMs / fraction - p.wallMs) / 1000 : NaN;
    const arm = this.store.getRun(p.runId).arm;
    process.stderr.write(
      `${arm.padEnd(18)} [${'#'.repeat(step).padEnd(20, '.')}] ${(fraction * 100).toFixed(0).padStart(3)}%  epoch ${p.epoch.toFixed(2)}/${p.epochs}  loss ${p.loss.toFixed(4)}  ETA ${Number.isFinite(eta) ? `${eta.toFixed(0)} s` : '-'}\n`,
    );
  }

  status(runId: string, status: string, reason: string | null): void {
    const arm = this.store.getRun(runId).arm;
    process.stderr.write(`${arm.padEnd(18)} ${status}${reason ? `: ${reason}` : ''}\n`);
  }
}

export function formatComparison(rows: ComparisonRow[]): string {
  const percent = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);
  const ms = (x: number | null) => (x === null ? '-' : formatMs(x));
  const share = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(0)}%`);
  const header = [
    'run',
    'status',
    'final acc',
    'best acc',
    'time to target',
    'iter ms',
    'compute',
    'compress',
    'comm',
    'update',
    'cpu wait',
    'overhead',
    'w/o waits',
    'bytes/iter',
  ];
  const presets = TABLE_PRESETS.map((id) => `speedup ${id}`);
  return table([
    [...header, ...presets],
    ...rows.map(({ summary: s, speedups }) => [
      `${s.arm} (seed ${s.seed})`,
      s.status,
      s.finalPerplexity !== null ? `ppl ${s.finalPerplexity.toFixed(1)}` : percent(s.finalAccuracy),
      s.bestPerplexity !== null ? `ppl ${s.bestPerplexity.toFixed(1)}` : percent(s.bestAccuracy),
      s.target?.reached ? `${(s.target.wallMs! / 1000).toFixed(1)} s` : '-',
      ms(s.meanIterationMs),
      ms(s.meanComputeMs),
      ms(s.meanCompressMs),
      ms(s.meanExchangeMs),
      ms(s.meanUpdateMs),
      ms(s.meanCpuWaitMs),
      share(overheadOf(s)),
      share(activeOverheadOf(s)),
      s.meanBytesSent === null ? '-' : formatCount(Math.round(s.meanBytesSent)),
      ...TABLE_PRESETS.map((id) => (speedups[id] ? `${speedups[id]!.toFixed(2)}x` : '-')),
    ]),
  ]);
}

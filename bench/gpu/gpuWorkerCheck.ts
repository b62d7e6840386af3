/**
 * Workers on real GPUs, for a GPU machine without this repository's node_modules (bundled by
 * bench/gpu/pack.sh, whose banner gives the ES module the require() that bundled CommonJS needs):
 * (a) the GPUs discovery finds (gpu/worker/gpus/discovery.ts);
 * (b) a short synthetic training through the placement path: a hub, and worker processes (this
 *     script again, in `worker` mode) started with each slot's `--gpu N` and environment
 *     (workerLaunch's), then the adapter each rank reports, which the orchestrator records;
 *     trained twice: with dawn.node's own polling (SPARSELAB_DAWN_POLLING=spin) and paced, and the
 *     CPU time of each worker process over the run;
 * (c) the CPU time of a thread waiting on GPU read-backs, with dawn.node's polling and paced.
 * Writes JSON to $RESULTS (default gpu-worker-check.json). $GPUS picks GPUs ("0,1"), $WORKERS the
 * ranks (default 2: slot s on GPU s mod G, so on a one-GPU machine both share it), $ITERATIONS the
 * iterations per rank (default 60).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { experimentSchema } from '../../common/experiment';
import { describeGpus, parseGpuList, placementProblem, type GpuInfo } from '../../common/gpus';
import type { IterationRecord } from '../../common/metrics';
import { startHub, type Hub } from '../../main/core/hub';
import { localPlacement } from '../../main/core/runtime/gpus';
import { gpuForSlot } from '../../common/gpus';
import { acquireGpuDevice } from '../../gpu/webgpuDevice/device';
import { gpuSelection, loadDawn } from '../../gpu/worker/gpus/dawn';
import { paceDawnPolling } from '../../gpu/worker/gpus/dawnPolling';
import { discoverGpus, systemSources } from '../../gpu/worker/gpus/discovery';
import { runWorker } from '../../gpu/worker/main';
import { measureReadbackCpu, type ReadbackCpu } from './readbackCpu';

const script = fileURLToPath(import.meta.url);

if (process.argv[2] === 'worker') {
  // One worker process: the environment that selects its GPU is already set by the parent.
  const gpu = Number(process.argv[4]);
  await runWorker({ hub: process.argv[3]!, token: process.env.SPARSELAB_TOKEN!, backend: 'webgpu', gpu });
  process.exit(0);
}

const log = (line: string) => console.log(line);

/** CPU seconds a process has used (utime + stime from /proc/PID/stat), or null off Linux. */
function processCpuMs(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 10 ms
  } catch {
    return null;
  }
}

interface TrainingResult {
  polling: 'spin' | 'paced';
  ranks: {
    rank: number;
    workerId: string;
    pid: number;
    adapter: unknown;
    cpuMs: number | null;
    cpuShare: number | null;
  }[];
  iterations: number;
  wallMs: number;
  meanIterationMs: number;
  meanComputeMs: number;
  finalLoss: number | null;
}

async function train(hub: Hub, used: GpuInfo[], ranks: number, polling: 'spin' | 'paced'): Promise<TrainingResult> {
  const iterations = Number(process.env.ITERATIONS ?? 60);
  const children: ChildProcess[] = [];
  const pids = new Set<number>();
  const mine = () => hub.workers().filter((w) => pids.has(w.capabilities.pid));
  const joined = new Promise<void>((resolve) => {
    const check = () => mine().length >= ranks && (hub.off('workerJoined', check), resolve());
    hub.on('workerJoined', check);
  });
  for (let slot = 0; slot < ranks; slot++) {
    const gpu = gpuForSlot(slot, used)!;
    const child = spawn(process.execPath, [script, 'worker', hub.url, String(gpu.index)], {
      env: {
        ...process.env,
        ...gpuSelection(gpu).env,
        SPARSELAB_TOKEN: hub.token,
        SPARSELAB_DAWN_POLLING: polling === 'spin' ? 'spin' : '',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    pids.add(child.pid!);
  }
  await joined;
  const workers = mine().sort((a, b) => a.capabilities.pid - b.capabilities.pid);
  const runId = `gpu-check-${polling}`;
  const batchSize = 64;
  const experiment = experimentSchema.parse({
    name: 'gpu worker check',
    model: 'synthetic',
    dataset: { name: 'synthetic', trainLimit: iterations * batchSize * ranks, testLimit: 1024 },
    workers: ranks,
    backend: 'webgpu',
    shareGpus: true,
    epochs: 1,
    batchSize,
    optimizer: { lr: 0.05 },
    arms: [{ method: 'topk', density: 0.01 }],
    evaluation: { everyEpochs: 1 },
    statistics: { everyIterations: 1000, histogramIterations: [] },
  });
  const records: IterationRecord[] = [];
  hub.on('metrics', (batch) => {
    if (batch.kind === 'iteration') records.push(...batch.records.filter((r) => r.runId === runId));
  });
  const finished = new Promise<void>((resolve, reject) => {
    const done = new Set<number>();
    hub.on('status', (message, worker) => {
      if (message.runId !== runId) return;
      if (message.state === 'failed') reject(new Error(`rank of ${worker.id} failed: ${message.reason}`));
      if (message.state === 'finished') done.add(worker.capabilities.pid);
      if (done.size === ranks) resolve();
    });
  });
  const cpuBefore = workers.map((w) => processCpuMs(w.capabilities.pid));
  const start = performance.now();
  hub.createGroup(
    runId,
    workers.map((w) => w.id),
  );
  await hub.assign(runId, { experiment, arm: experiment.arms[0], seed: 1 });
  await finished;
  const wallMs = performance.now() - start;
  const cpuAfter = workers.map((w) => processCpuMs(w.capabilities.pid));
  hub.endGroup(runId, 'finished');
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((resolve) => c.once('exit', resolve))));
  const rank0 = records.filter((r) => r.rank === 0);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return {
    polling,
    ranks: workers.map((w, rank) => {
      const cpuMs = cpuBefore[rank] !== null && cpuAfter[rank] !== null ? cpuAfter[rank]! - cpuBefore[rank]! : null;
      return {
        rank,
        workerId: w.id,
        pid: w.capabilities.pid,
        adapter: w.capabilities.adapter ?? null,
        cpuMs,
        cpuShare: cpuMs === null ? null : cpuMs / wallMs,
      };
    }),
    iterations: rank0.length,
    wallMs,
    meanIterationMs: mean(rank0.map((r) => r.computeMs + r.compressMs + r.exchangeMs + r.updateMs)),
    meanComputeMs: mean(rank0.map((r) => r.computeMs)),
    finalLoss: rank0.at(-1)?.loss ?? null,
  };
}

const dawn = await loadDawn();
const found = await discoverGpus(systemSources(dawn));
log(`GPUs found:\n${describeGpus(found)}`);
const chosen = process.env.GPUS ? parseGpuList(process.env.GPUS) : null;
const { used } = await localPlacement('webgpu', chosen, async () => found);
const software = used.every((gpu) => gpu.software);
// Two ranks by default: one per GPU on a machine of two or more, sharing the GPU on a machine of one.
const ranks = Number(process.env.WORKERS ?? 2);
const refusal = placementProblem(used.length + 1, used, false);
log(`placement of ${used.length + 1} ranks without shareGpus: ${refusal ?? 'allowed'}`);

// Generous silence: on a loaded machine a software adapter's evaluation can hold a worker's thread for seconds.
const hub = await startHub({
  silenceMs: 120_000,
  log: (level, message) => level !== 'debug' && level !== 'info' && log(`[hub] ${message}`),
});
const training: TrainingResult[] = [];
for (const polling of ['spin', 'paced'] as const) {
  const result = await train(hub, used, ranks, polling);
  training.push(result);
  log(
    `training (${polling} polling): ${result.iterations} iterations, ${result.meanIterationMs.toFixed(2)} ms/iteration ` +
      `(compute ${result.meanComputeMs.toFixed(2)}), final loss ${result.finalLoss?.toFixed(4)}`,
  );
  for (const rank of result.ranks) {
    log(
      `  rank ${rank.rank}: adapter ${JSON.stringify(rank.adapter)}, worker CPU ${rank.cpuMs?.toFixed(0)} ms = ` +
        `${rank.cpuShare === null ? '-' : (100 * rank.cpuShare).toFixed(0)}% of a core`,
    );
  }
}
await hub.close();

// (c) Read-backs in this process, on GPU used[0] opened the way a worker opens it.
const { device, adapterInfo } = await acquireGpuDevice({
  dawnOptions: gpuSelection(used[0]!).dawnFlags,
  swiftShaderFallback: false,
});
const shapes = software
  ? [
      { name: 'short', elements: 1024, rounds: 200 },
      { name: 'long', elements: 1024, rounds: 5000 },
    ]
  : [
      { name: 'short', elements: 4096, rounds: 100 },
      { name: 'long', elements: 1 << 20, rounds: 200_000 },
    ];
// About 2 s of read-backs per case, whatever this GPU's speed (one read-back timed first).
const cases = [];
for (const shape of shapes) {
  const once = await measureReadbackCpu(device, { ...shape, readbacks: 1 });
  cases.push({ ...shape, readbacks: Math.max(5, Math.min(500, Math.round(2000 / once.wallMs))) });
}
const readbacks: Record<string, Record<'spin' | 'paced', ReadbackCpu>> = {};
for (const c of cases)
  readbacks[c.name] = { spin: await measureReadbackCpu(device, c) } as Record<'spin' | 'paced', ReadbackCpu>;
paceDawnPolling();
for (const c of cases) readbacks[c.name]!.paced = await measureReadbackCpu(device, c);
for (const [name, r] of Object.entries(readbacks)) {
  for (const polling of ['spin', 'paced'] as const) {
    const m = r[polling];
    log(
      `read-backs ${name} (${polling}): ${m.meanReadbackMs.toFixed(3)} ms each, waiting thread CPU ` +
        `${m.mainThreadShare === null ? '-' : (100 * m.mainThreadShare).toFixed(0)}% of wall, process CPU ${m.processCpuMs.toFixed(0)} ms in ${m.wallMs.toFixed(0)} ms`,
    );
  }
}

const results = {
  machine: { host: os.hostname(), cpus: os.cpus()[0]?.model, cores: os.availableParallelism(), node: process.version },
  gpus: found,
  used: used.map((gpu) => gpu.index),
  placementRefusal: refusal,
  training,
  readbackAdapter: adapterInfo,
  readbacks,
};
const out = process.env.RESULTS ?? 'gpu-worker-check.json';
writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
log(`wrote ${out}`);
process.exit(0);

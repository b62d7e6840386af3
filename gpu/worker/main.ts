/**
 * The worker process: connects to the hub, announces what it can do, and trains one rank of one
 * run at a time. Started by the core for local GPUs/cores, or by hand on another machine:
 * `sparselab worker --hub ws://HOST:PORT --token TOKEN`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseRunConfig, type WorkerCapabilities } from '../../common/protocol';
import { createKernels } from '../engine';
import { connectToHub, type HubClient } from './hubClient';
import { resolveGpuSelection } from './gpus/select';
import { initTensorflow, modelAdapter, modelGpuDevice, type BackendPreference, type WorkerAdapter } from './models';
import { encodeNpy } from '../io/npy';
import { trainRank } from './trainer';

export interface WorkerOptions {
  hub: string;
  token: string;
  /** Model backend: auto picks WebGPU where a hardware adapter exists. */
  backend: BackendPreference;
  /** Write u = g + e of rank 0 at the histogram iterations here, as .npy. */
  dumpDir?: string;
  /** Run on this GPU of this machine (common/gpus.ts numbering) and no other. */
  gpu?: number;
  log?: (line: string) => void;
}

export async function runWorker(options: WorkerOptions): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (options.gpu !== undefined && options.backend === 'cpu') {
    throw new Error(`--gpu ${options.gpu} needs the webgpu (or auto) backend, not cpu`);
  }
  const selection = options.gpu !== undefined ? await resolveGpuSelection(options.gpu) : null;
  const modelBackend = await initTensorflow(options.backend, selection);
  const adapter = modelAdapter();
  // On WebGPU the compression kernels share the model's GPUDevice, so gradients never leave the GPU;
  // elsewhere they run on the CPU (WebAssembly SIMD).
  const device = modelGpuDevice();
  const kernels = device
    ? await (await import('../kernels/webgpu/index')).createWebGpuKernels(device)
    : await createKernels('cpu');
  // Small tensors are faster on the CPU kernels even where the model is on a GPU (trainRank).
  const hostKernels = device ? await createKernels('cpu') : undefined;
  const capabilities: WorkerCapabilities = {
    host: os.hostname(),
    pid: process.pid,
    backend: modelBackend === 'webgpu' ? 'webgpu' : 'cpu',
    ...(adapter && { adapter }),
    cores: os.availableParallelism(),
    limits: { memoryBytes: os.totalmem() },
  };
  const client = await connectToHub(options.hub, options.token, capabilities);
  const placement = `models on ${modelBackend}${adapter ? ` on ${adapterLabel(adapter)}` : ''}, compression on ${kernels.deviceName}`;
  log(`worker ${client.workerId} joined ${options.hub} (${placement})`);

  // One flag per assignment: a run resumed on this worker after a cancel starts uncancelled.
  const jobs = new Map<string, { cancelled: boolean }>();
  // Lines about a run go to the local log and to the run's log in the store (the app shows them per rank).
  const runLog = (level: 'info' | 'warn' | 'error', runId: string, message: string): void => {
    log(`run ${runId}: ${message}`);
    void client.log(level, message, runId);
  };
  client.onCancel(({ runId, reason }) => {
    const job = jobs.get(runId);
    if (job) job.cancelled = true;
    runLog('info', runId, `cancelled: ${reason}`);
  });
  let queue = Promise.resolve();
  client.onAssign((assign, checkpoint) => {
    const job = { cancelled: false };
    jobs.set(assign.runId, job);
    // One rank at a time: a second assignment waits for the first to end.
    queue = queue.then(() =>
      train(
        client,
        assign.runId,
        job,
        (level, message) => runLog(level, assign.runId, message),
        async () => {
          const spec = parseRunConfig(assign.config);
          runLog(
            'info',
            assign.runId,
            `rank ${assign.rank} of ${assign.worldSize} on ${capabilities.host} (worker ${client.workerId}, ${placement})${assign.resume ? `, resuming at iteration ${assign.resume.iteration}` : ''}`,
          );
          await trainRank(
            client,
            kernels,
            { runId: assign.runId, rank: assign.rank, worldSize: assign.worldSize, spec, checkpoint },
            {
              cancelled: () => job.cancelled,
              ...(options.dumpDir && { dumpGradient: gradientDumper(options.dumpDir, assign.runId) }),
            },
            hostKernels,
          );
        },
      ),
    );
  });

  await new Promise<void>((resolve, reject) => {
    client.onClose((error) => (error ? reject(error) : resolve()));
  });
}

/** "GPU 1 NVIDIA H200 (pci:0000:1a:00.0)", or the adapter's name where no GPU was chosen. */
function adapterLabel(adapter: WorkerAdapter): string {
  return adapter.index !== undefined ? `GPU ${adapter.index} ${adapter.name} (${adapter.id})` : adapter.name;
}

function gradientDumper(folder: string, runId: string) {
  mkdirSync(folder, { recursive: true });
  return (iteration: number, tensor: string, u: Float32Array) =>
    writeFileSync(join(folder, `${runId}.it${iteration}.${tensor.replaceAll('/', '_')}.npy`), encodeNpy(u));
}

/** Reports the rank's outcome; a cancelled rank reports nothing (its collectives fail on purpose). */
async function train(
  client: HubClient,
  runId: string,
  job: { cancelled: boolean },
  runLog: (level: 'info' | 'error', message: string) => void,
  body: () => Promise<void>,
): Promise<void> {
  void client.status(runId, 'started');
  try {
    await body();
    if (job.cancelled) return;
    runLog('info', 'finished');
    void client.status(runId, 'finished');
  } catch (error) {
    if (job.cancelled) return;
    runLog('error', `failed: ${(error as Error).stack ?? (error as Error).message}`);
    void client.status(runId, 'failed', (error as Error).message);
  }
}

import type { BackendName, BenchOptions, BenchResults } from '../../../common/bench';
import { normalData } from '../../../common/normalData';
import { selectionSize } from '../../../common/sparsifier';
import { createKernels } from '../../../gpu/engine';
import type { DeviceCounters, Kernels } from '../../../gpu/kernels/kernels';
import { stepSeed } from '../../../gpu/kernels/random/random';
import { runSelection } from '../../../gpu/operators/run';
import { describeMachine } from './machine';
import { runPythonPeers } from './peers';
import { runTorchOperatorPeers } from './torchPeer';
import { median, timeTfjsTopk } from './tfjsPeer';

export interface BenchRunOptions extends BenchOptions {
  onProgress?: (line: string) => void;
}

async function timeIt(repeats: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  return median(samples);
}

/** One read of every coordinate in the backend's own kernel style: the memory-bandwidth floor. */
function readPass<V>(kernels: Kernels<V>, u: V): Promise<number[]> {
  return kernels.countAbove(u, [3.4e38]);
}

/** Read-backs and GPU time per call between two readings of a backend's counters. */
function perCall(
  before: DeviceCounters,
  after: DeviceCounters,
  calls: number,
): { readbacks: number; gpuMs: number | null } {
  const timed = after.timedSubmissions - before.timedSubmissions;
  return {
    readbacks: (after.readbacks - before.readbacks) / calls,
    gpuMs: timed > 0 ? (after.gpuNs - before.gpuNs) / 1e6 / timed : null,
  };
}

async function benchBackend<V>(
  kernels: Kernels<V>,
  data: Float32Array,
  options: BenchRunOptions,
  results: BenchResults,
): Promise<void> {
  const d = data.length;
  const u = kernels.upload(data);
  try {
    const readMs = await timeIt(options.repeats, () => readPass(kernels, u));
    results.readPass.push({ d, backend: kernels.backend, ms: readMs });
    for (const density of options.densities) {
      const k = selectionSize(d, { density });
      for (const method of options.methods) {
        let selected = 0;
        const before = kernels.counters ? { ...kernels.counters } : null;
        const ms = await timeIt(options.repeats, async () => {
          const { selection } = await runSelection(kernels, u, method, { k, seed: stepSeed(1, 0), sampleRatio: 0.01 });
          selected = selection!.indices.length;
        });
        const counted = before && kernels.counters ? perCall(before, kernels.counters, options.repeats + 1) : null;
        results.operators.push({
          d,
          density,
          backend: kernels.backend,
          method,
          ms,
          readPasses: ms / readMs,
          selected,
          ...(counted ?? {}),
        });
        const gpu = counted?.gpuMs ? `, GPU ${counted.gpuMs.toFixed(3)} ms` : '';
        const trips = counted ? `, ${counted.readbacks} read-backs` : '';
        options.onProgress?.(
          `${kernels.backend} d=${d} density=${density} ${method}: ${ms.toFixed(2)} ms${gpu}${trips}`,
        );
      }
    }
  } finally {
    kernels.release(u);
  }
}

export async function runBench(options: BenchRunOptions): Promise<BenchResults> {
  const { onProgress, ...recorded } = options;
  const results: BenchResults = {
    machine: describeMachine(),
    devices: {},
    options: recorded,
    readPass: [],
    operators: [],
    peers: [],
    peerVersions: {},
    notes: [],
  };
  const kernelsByBackend = new Map<BackendName, Kernels>();
  for (const backend of options.backends) {
    try {
      const kernels = await createKernels(backend, { profile: true });
      if (options.skipSoftwareAdapters && (kernels as { isSoftware?: boolean }).isSoftware) {
        results.notes.push(
          `${backend}: ${kernels.deviceName} is a software adapter, left out (--backends ${backend} times it)`,
        );
        continue;
      }
      kernelsByBackend.set(backend, kernels);
      results.devices[backend] = kernels.deviceName;
    } catch (error) {
      results.notes.push(`${backend} backend unavailable: ${(error as Error).message}`);
    }
  }
  for (const d of options.sizes) {
    const data = normalData(d);
    for (const kernels of kernelsByBackend.values()) await benchBackend(kernels, data, options, results);
    if (!options.peers) continue;
    onProgress?.(`peers d=${d}`);
    const python = runPythonPeers(data, options.densities, options.repeats);
    results.peers.push(...python.peers.map((p) => ({ ...p, d })));
    Object.assign(results.peerVersions, python.versions);
    if (python.missing && !results.notes.some((n) => n.startsWith('python peers'))) {
      results.notes.push(`python peers incomplete: ${python.missing}`);
    }
    const torchOperators = runTorchOperatorPeers(data, options.densities, options.repeats);
    results.peers.push(...torchOperators.peers.map((p) => ({ ...p, d })));
    Object.assign(results.peerVersions, torchOperators.versions);
    if (torchOperators.missing && !results.notes.includes(torchOperators.missing)) {
      results.notes.push(torchOperators.missing);
    }
    if (d <= options.tfjsMaxSize) {
      const tfjs = await timeTfjsTopk(data, options.densities, Math.min(options.repeats, 3));
      results.peers.push(...tfjs.map((p) => ({ ...p, d })));
    }
  }
  return results;
}

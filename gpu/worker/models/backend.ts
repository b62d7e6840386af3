/**
 * Chooses and initialises the TensorFlow.js backend of a worker.
 * - 'cpu': the WebAssembly backend (XNNPACK, SIMD; about 4x the plain JavaScript backend), with the
 *   training kernels it lacks added (tfjsWasmTrainingKernels.ts); the JavaScript 'cpu' backend if wasm fails.
 * - 'webgpu': tfjs-backend-webgpu on navigator.gpu (in Node from the `webgpu` package, Dawn). Any
 *   adapter is accepted, software ones (SwiftShader) included; none is an error.
 * - 'auto': WebGPU when a hardware adapter exists, else as 'cpu'.
 */
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradients of every op
import type { WorkerCapabilities } from '../../../common/protocol';
import { describeAdapterInfo, isSoftwareAdapter, loadDawn, type DawnModule } from '../../webgpuDevice/device';
import { openSelectedGpu, type GpuSelection } from '../gpus/dawn';
import { paceDawnPolling } from '../gpus/dawnPolling';
import { registerFastGradients } from './gradients';
import { registerWasmTrainingKernels } from './tfjsWasmTrainingKernels';

export type BackendPreference = 'auto' | 'cpu' | 'webgpu';
export type WorkerAdapter = NonNullable<WorkerCapabilities['adapter']>;

export class BackendError extends Error {
  override name = 'BackendError';
}

const require = createRequire(import.meta.url);

/** The folder holding tfjs-backend-wasm's .wasm files (with a trailing separator, as setWasmPaths wants). */
export function wasmBinariesFolder(): string {
  return join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + sep;
}

let wasmImported = false;

/** Starts the wasm backend; returns null, or why it could not start. */
async function tryWasm(): Promise<string | null> {
  try {
    if (!wasmImported) {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(wasmBinariesFolder());
      wasmImported = true;
    }
    registerWasmTrainingKernels();
    return (await tf.setBackend('wasm')) ? null : 'initialisation failed (see the message above)';
  } catch (error) {
    return (error as Error).message;
  }
}

async function useCpu(): Promise<string> {
  const failure = await tryWasm();
  if (failure === null) return 'wasm';
  console.warn(`SparseLab: the wasm TensorFlow.js backend is unavailable (${failure}); using the slower cpu backend`);
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend('cpu')))
    throw new BackendError('neither the wasm nor the cpu TensorFlow.js backend started');
  return 'cpu';
}

/** Dawn instances must stay referenced for the life of the process. */
const dawnInstances: GPU[] = [];

/** The adapter the models run on, as a worker reports it; null until WebGPU is in use. */
let adapterInUse: WorkerAdapter | null = null;

/**
 * navigator.gpu and the adapter it yields. In Node: Dawn, opened on the selected GPU when one is
 * given (tfjs-backend-webgpu asks navigator.gpu for its adapter, so it gets that one), and with its
 * polling paced so a worker waiting on its GPU does not spin a core (dawnPolling.ts).
 */
async function navigatorGpu(selection: GpuSelection | null): Promise<{ gpu: GPU; adapter: GPUAdapter | null }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu && !selection) {
    return { gpu: nav.gpu, adapter: await nav.gpu.requestAdapter({ powerPreference: 'high-performance' }) };
  }
  let dawn: DawnModule;
  try {
    dawn = await loadDawn();
  } catch (error) {
    throw new BackendError((error as Error).message);
  }
  // SPARSELAB_DAWN_POLLING=spin keeps dawn.node's own polling (to measure what pacing saves).
  if (process.env.SPARSELAB_DAWN_POLLING !== 'spin') paceDawnPolling();
  let opened: { gpu: GPU; adapter: GPUAdapter | null };
  if (selection) {
    opened = await openSelectedGpu(dawn, selection);
  } else {
    const gpu = dawn.create([]);
    opened = { gpu, adapter: await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null) };
  }
  dawnInstances.push(opened.gpu);
  if (nav) Object.defineProperty(nav, 'gpu', { value: opened.gpu, configurable: true });
  else
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: opened.gpu }, configurable: true, writable: true });
  return opened;
}

function isSoftware(adapter: GPUAdapter): boolean {
  const info = adapter.info as (GPUAdapterInfo & { isFallbackAdapter?: boolean }) | undefined;
  return isSoftwareAdapter(describeAdapterInfo(info), info?.isFallbackAdapter === true);
}

/** What a worker reports of its adapter: Dawn's info, and the placed GPU's name, number and id. */
export function describeWorkerAdapter(adapter: GPUAdapter, selection: GpuSelection | null): WorkerAdapter {
  const info = adapter.info as GPUAdapterInfo | undefined;
  const gpu = selection?.gpu;
  return {
    name: gpu?.name ?? (info?.device || info?.architecture || info?.vendor || 'unknown'),
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    description: info?.description ?? '',
    software: isSoftware(adapter),
    ...(gpu && { backend: gpu.backend, index: gpu.index, id: gpu.id, pciBusId: gpu.pciBusId }),
  };
}

/** Starts tfjs-backend-webgpu; returns null with the reason when it cannot. */
async function tryWebGpu(allowSoftware: boolean, selection: GpuSelection | null): Promise<string | null> {
  let opened: { gpu: GPU; adapter: GPUAdapter | null };
  try {
    opened = await navigatorGpu(selection);
  } catch (error) {
    if (selection) throw new BackendError((error as Error).message); // a chosen GPU that fails is an error
    return (error as Error).message;
  }
  const { adapter } = opened;
  if (!adapter) return 'no WebGPU adapter found (no GPU driver, or Vulkan/Metal/D3D12 unavailable)';
  if (!allowSoftware && isSoftware(adapter)) return 'only a software WebGPU adapter was found';
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (error) {
    return `tfjs-backend-webgpu failed to load: ${(error as Error).message}`;
  }
  if (!tf.findBackendFactory('webgpu')) return 'tfjs-backend-webgpu did not register (navigator.gpu missing at import)';
  try {
    if (!(await tf.setBackend('webgpu'))) return 'tfjs-backend-webgpu failed to initialise';
  } catch (error) {
    return `tfjs-backend-webgpu failed to initialise: ${(error as Error).message}`;
  }
  adapterInUse = describeWorkerAdapter(adapter, selection);
  return null;
}

/**
 * Selects the backend (see the file's comment) and returns the name of the one in use:
 * 'wasm', 'cpu' or 'webgpu'. 'webgpu' that cannot start is a BackendError saying why. With a GPU
 * selection (worker --gpu N) WebGPU opens that GPU and no other.
 */
export async function initTensorflow(
  preferred: BackendPreference = 'auto',
  selection: GpuSelection | null = null,
): Promise<string> {
  registerFastGradients();
  if (preferred === 'webgpu' || (preferred === 'auto' && selection)) {
    // A GPU chosen by number is used even when it is a software one.
    const failure = await tryWebGpu(true, selection);
    if (failure !== null) throw new BackendError(`WebGPU backend unavailable: ${failure}`);
  } else if (preferred === 'auto') {
    const failure = await tryWebGpu(false, null);
    if (failure !== null) await useCpu();
  } else {
    await useCpu();
  }
  await tf.ready();
  return tf.getBackend();
}

/** The adapter the models run on while WebGPU is the backend in use (what the worker reports), else null. */
export function modelAdapter(): WorkerAdapter | null {
  return tf.getBackend() === 'webgpu' ? adapterInUse : null;
}

/**
 * The GPUDevice of tfjs-backend-webgpu while it is the backend in use, else null: kernels created
 * on it (createWebGpuKernels(device)) read the model's tensors in place (dataToGPU()).
 */
export function modelGpuDevice(): GPUDevice | null {
  if (tf.getBackend() !== 'webgpu') return null;
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  return device ?? null;
}

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
import { registerFastGradients } from './gradients';
import { registerWasmTrainingKernels } from './tfjsWasmTrainingKernels';

export type BackendPreference = 'auto' | 'cpu' | 'webgpu';

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
const dawn: GPU[] = [];

async function navigatorGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  let mod: { create: (options: string[]) => GPU; globals: object };
  try {
    const specifier = 'webgpu';
    mod = (await import(/* @vite-ignore */ specifier)) as typeof mod;
  } catch (error) {
    throw new BackendError(`WebGPU in Node needs the "webgpu" package (Dawn): ${(error as Error).message}`);
  }
  for (const [name, value] of Object.entries(mod.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  const gpu = mod.create([]);
  dawn.push(gpu);
  if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  return gpu;
}

function isSoftware(adapter: GPUAdapter): boolean {
  const info = adapter.info as (GPUAdapterInfo & { isFallbackAdapter?: boolean }) | undefined;
  const text = `${info?.vendor ?? ''} ${info?.architecture ?? ''} ${info?.device ?? ''} ${info?.description ?? ''}`;
  return info?.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|softpipe|basic render|warp/i.test(text);
}

/** Starts tfjs-backend-webgpu; returns null with the reason when it cannot. */
async function tryWebGpu(allowSoftware: boolean): Promise<string | null> {
  let gpu: GPU;
  try {
    gpu = await navigatorGpu();
  } catch (error) {
    return (error as Error).message;
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
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
  return null;
}

/**
 * Selects the backend (see the file's comment) and returns the name of the one in use:
 * 'wasm', 'cpu' or 'webgpu'. 'webgpu' that cannot start is a BackendError saying why.
 */
export async function initTensorflow(preferred: BackendPreference = 'auto'): Promise<string> {
  registerFastGradients();
  if (preferred === 'webgpu') {
    const failure = await tryWebGpu(true);
    if (failure !== null) throw new BackendError(`WebGPU backend unavailable: ${failure}`);
  } else if (preferred === 'auto') {
    const failure = await tryWebGpu(false);
    if (failure !== null) await useCpu();
  } else {
    await useCpu();
  }
  await tf.ready();
  return tf.getBackend();
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

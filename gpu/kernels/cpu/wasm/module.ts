/**
 * Loads the CPU kernels' WebAssembly module. The bytes come from a generated TS module
 * (scripts/build-wasm.js, `npm run build:wasm`) rather than a file read, so every bundler and
 * the browser load them the same way.
 */
import { kernelsWasmBase64 } from './generated/kernelsWasm';

/** The exports of gpu/kernels/cpu/wasm/assembly/index.ts. Pointers are byte offsets (u32). */
export interface KernelsWasm {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  lastStop(): number;
  lastGreater(): number;
  mix32(x: number): number;
  addInto(target: number, addend: number, n: number): void;
  sgdMomentum(
    w: number,
    v: number,
    g: number,
    n: number,
    lr: number,
    momentum: number,
    scale: number,
    weightDecay: number,
  ): void;
  moments(p: number, n: number, out: number): void;
  centralMoments(p: number, n: number, mean: number, out: number): void;
  histogram(p: number, n: number, min: number, max: number, bins: number, counts: number): void;
  countAbove(p: number, n: number, thresholds: number, count: number, out: number): void;
  compactAbove(p: number, start: number, end: number, t: number, outIdx: number, outVal: number, cap: number): number;
  compactRandom(ms: number, start: number, end: number, t: number, outIdx: number, outKey: number, cap: number): number;
  selectKeys(keys: number, n: number, k: number, mask: number, hist: number): number;
  selectFloat(p: number, n: number, k: number, hist: number): number;
  selectRandom(ms: number, n: number, k: number, hist: number): number;
  emitCandidates(
    idx: number,
    keys: number,
    n: number,
    mask: number,
    v: number,
    quota: number,
    outIdx: number,
    outVal: number,
  ): number;
  emitFloat(p: number, n: number, v: number, quota: number, total: number, outIdx: number, outVal: number): number;
  emitRandom(ms: number, n: number, v: number, quota: number, total: number, outIdx: number): number;
  sampleFloat(p: number, n: number, s: number, salt: number, out: number): void;
}

let compiled: Promise<WebAssembly.Module> | undefined;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** A fresh instance (its own linear memory) of the compiled module; compiles once per process. */
export async function instantiateKernelsWasm(): Promise<KernelsWasm> {
  compiled ??= WebAssembly.compile(decodeBase64(kernelsWasmBase64)).catch((error: unknown) => {
    compiled = undefined;
    throw new Error(`CPU kernels: this runtime cannot compile the WebAssembly SIMD module: ${error}`);
  });
  const instance = await WebAssembly.instantiate(await compiled, {});
  return instance.exports as unknown as KernelsWasm;
}

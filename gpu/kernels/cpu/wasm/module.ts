/**
 * Loads the CPU backend's WebAssembly modules: the compression kernels and the optimizer's step.
 * The bytes, and the interfaces of their exports (read from the AssemblyScript sources), come
 * from generated TS modules (scripts/build-wasm.js, `npm run build:wasm`) rather than a file
 * read, so every bundler and the browser load them the same way.
 */
import { kernelsWasmBase64, type KernelsWasm } from './generated/kernelsWasm';
import { optimizerWasmBase64, type OptimizerWasm } from './generated/optimizerWasm';

export type { KernelsWasm, OptimizerWasm };

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Compiles a module once per process; each call instantiates it afresh (its own linear memory). */
function loader<T>(base64: string, what: string): () => Promise<T> {
  let compiled: Promise<WebAssembly.Module> | undefined;
  return async () => {
    compiled ??= WebAssembly.compile(decodeBase64(base64)).catch((error: unknown) => {
      compiled = undefined;
      throw new Error(`${what}: this runtime cannot compile the WebAssembly SIMD module: ${error}`);
    });
    const instance = await WebAssembly.instantiate(await compiled, {});
    return instance.exports as unknown as T;
  };
}

/** A fresh instance of the compression kernels (gpu/kernels/cpu/wasm/kernels.as.ts). */
export const instantiateKernelsWasm = loader<KernelsWasm>(kernelsWasmBase64, 'CPU kernels');

/** A fresh instance of the optimizer's step (gpu/kernels/cpu/wasm/optimizer.as.ts). */
export const instantiateOptimizerWasm = loader<OptimizerWasm>(optimizerWasmBase64, 'optimizer');

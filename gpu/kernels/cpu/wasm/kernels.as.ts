// WebAssembly SIMD kernels behind gpu/kernels/cpu/index.ts (AssemblyScript, built by
// `npm run build:wasm`). There is no allocator here: the host owns linear memory and passes byte
// offsets. All magnitude comparisons are on float32 bit patterns with the sign cleared, compared
// as signed i32 so that a threshold of -1 admits every coordinate (see gpu/kernels/kernels.ts).
//
// Multi-value results go through two globals read back with lastStop() / lastGreater().
//
// One file per primitive, beside its WGSL and host code in gpu/kernels/<primitive>/; this entry
// re-exports what the host calls (gpu/kernels/cpu/wasm/module.ts).

export { mix32 } from '../../random/random.as';
export { addInto } from '../../elementwise/elementwise.as';
export { moments, centralMoments } from '../../moments/moments.as';
export { histogram } from '../../histogram/histogram.as';
export { countAbove } from '../../count/count.as';
export { compactAbove, compactRandom, lastStop } from '../../select/compaction.as';
export {
  selectKeys,
  selectFloat,
  selectRandom,
  emitCandidates,
  emitFloat,
  emitRandom,
  sampleFloat,
  lastGreater,
} from '../../select/select.as';

export function heapBase(): usize {
  return __heap_base;
}

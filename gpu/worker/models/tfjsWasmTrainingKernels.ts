/**
 * Training kernels for @tensorflow/tfjs-backend-wasm 4.22, which lacks two that training needs
 * and has slow ones on the backward path:
 * - Conv2DBackpropFilter (missing; the gradient of a convolution's filter): the transposed im2col
 *   of the input in JavaScript, then the backend's XNNPACK matrix product: dW = col^T · dy.
 * - UnsortedSegmentSum (missing; the gradient of gather, i.e. of an embedding): a scatter-add loop.
 * - Conv2DBackpropInput (present but a naive loop, several times slower): with stride 1, a forward
 *   XNNPACK convolution of dy with the rotated filter; otherwise dcol = dy · W^T by XNNPACK, then
 *   col2im (a scatter-add) in JavaScript.
 * - BatchMatMul with transposeA/transposeB (present, but only the untransposed product takes the
 *   fast XNNPACK path; transposed ones are ~5x slower, and every dense layer's backward pass uses
 *   them): the operand is transposed in JavaScript, then the fast path runs.
 * All work on float32 NHWC tensors in the wasm heap; results match the cpu backend to rounding.
 */
import {
  backend_util,
  getKernel,
  registerKernel,
  unregisterKernel,
  util,
  type DataId,
  type DataType,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

/** The parts of BackendWasm these kernels use. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: DataId): boolean;
}

type Args<I> = { inputs: I; backend: WasmBackend; attrs: NamedAttrMap };

interface ConvBackpropAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape?: [number, number, number, number];
  inputShape?: [number, number, number, number];
}

/** The backend's original BatchMatMul (XNNPACK when untransposed), kept before it is wrapped. */
let fastMatMul: KernelFunc | null = null;
/** The backend's Conv2D (XNNPACK). */
let conv2d: KernelFunc | null = null;

function matMul(backend: WasmBackend, a: TensorInfo, b: TensorInfo): TensorInfo {
  return fastMatMul!({
    inputs: { a, b },
    backend: backend as never,
    attrs: { transposeA: false, transposeB: false },
  }) as TensorInfo;
}

const f32 = (backend: WasmBackend, t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;

/** A new heap tensor [batch, cols, rows] holding the transpose of each [rows, cols] matrix of `x`. */
function transposed(backend: WasmBackend, x: TensorInfo, batch: number, rows: number, cols: number): TensorInfo {
  const out = backend.makeOutput([batch, cols, rows], 'float32');
  const src = f32(backend, x);
  const dst = f32(backend, out);
  const block = 32;
  for (let m = 0; m < batch; m++) {
    const base = m * rows * cols;
    for (let r0 = 0; r0 < rows; r0 += block) {
      const r1 = Math.min(rows, r0 + block);
      for (let c0 = 0; c0 < cols; c0 += block) {
        const c1 = Math.min(cols, c0 + block);
        for (let r = r0; r < r1; r++) {
          for (let c = c0; c < c1; c++) dst[base + c * rows + r] = src[base + r * cols + c]!;
        }
      }
    }
  }
  return out;
}

function batchMatMul(args: Args<{ a: TensorInfo; b: TensorInfo }>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const transposeA = attrs.transposeA === true;
  const transposeB = attrs.transposeB === true;
  const { a, b } = inputs;
  if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return fastMatMul!(args as never) as TensorInfo;
  }
  const temporaries: TensorInfo[] = [];
  const flip = (x: TensorInfo): TensorInfo => {
    const rows = x.shape[x.shape.length - 2]!;
    const cols = x.shape[x.shape.length - 1]!;
    const batch = util.sizeFromShape(x.shape.slice(0, -2));
    const t = transposed(backend, x, batch, rows, cols);
    t.shape = [...x.shape.slice(0, -2), cols, rows];
    temporaries.push(t);
    return t;
  };
  const a2 = transposeA ? flip(a) : a;
  const b2 = transposeB ? flip(b) : b;
  try {
    return matMul(backend, a2, b2);
  } finally {
    for (const t of temporaries) backend.disposeData(t.dataId);
  }
}

function convInfo(xShape: number[], filterShape: number[], attrs: ConvBackpropAttrs): backend_util.Conv2DInfo {
  if (attrs.dataFormat !== 'NHWC') throw new Error('convolution gradients on wasm: only NHWC is supported');
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/** col2im: adds each column-matrix entry [(n, y, x), (kh, kw, ci)] into the NHWC image pixel it came from. */
function addColumns(info: backend_util.Conv2DInfo, image: Float32Array, cols: Float32Array): void {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  let col = 0;
  for (let n = 0; n < batchSize; n++) {
    const base = n * inHeight * inWidth * channels;
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        for (let ky = 0; ky < filterHeight; ky++) {
          const iy = oy * strideHeight - top + ky;
          for (let kx = 0; kx < filterWidth; kx++, col += channels) {
            const ix = ox * strideWidth - left + kx;
            if (iy < 0 || iy >= inHeight || ix < 0 || ix >= inWidth) continue;
            const at = base + (iy * inWidth + ix) * channels;
            for (let c = 0; c < channels; c++) image[at + c] = image[at + c]! + cols[col + c]!;
          }
        }
      }
    }
  }
}

/** im2col transposed: cols[(kh, kw, ci), (n, y, x)], written row by row. */
function columnsTransposed(info: backend_util.Conv2DInfo, image: Float32Array, cols: Float32Array): void {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  let at = 0;
  for (let ky = 0; ky < filterHeight; ky++) {
    for (let kx = 0; kx < filterWidth; kx++) {
      for (let c = 0; c < channels; c++) {
        for (let n = 0; n < batchSize; n++) {
          const base = n * inHeight * inWidth * channels + c;
          for (let oy = 0; oy < outHeight; oy++) {
            const iy = oy * strideHeight - top + ky;
            if (iy < 0 || iy >= inHeight) {
              cols.fill(0, at, at + outWidth);
              at += outWidth;
              continue;
            }
            const line = base + iy * inWidth * channels;
            for (let ox = 0; ox < outWidth; ox++, at++) {
              const ix = ox * strideWidth - left + kx;
              cols[at] = ix < 0 || ix >= inWidth ? 0 : image[line + ix * channels]!;
            }
          }
        }
      }
    }
  }
}

function conv2DBackpropFilter(args: Args<{ x: TensorInfo; dy: TensorInfo }>): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as ConvBackpropAttrs;
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape!;
  const info = convInfo(x.shape, filterShape, attrs);
  const channels = info.inChannels;
  const rows = info.batchSize * info.outHeight * info.outWidth;
  const width = info.filterHeight * info.filterWidth * channels;
  // XNNPACK repacks the right operand on every call: keep it the small one (dy, not the columns).
  const colsT = backend.makeOutput([1, width, rows], 'float32');
  // The view after the allocation: growing the heap detaches earlier ones.
  columnsTransposed(info, f32(backend, x), f32(backend, colsT));
  const dy2 = { dataId: dy.dataId, dtype: dy.dtype, shape: [1, rows, info.outChannels] };
  const out = matMul(backend, colsT, dy2); // [1, kh·kw·ci, co], i.e. [kh, kw, ci, co] in row-major order
  backend.disposeData(colsT.dataId);
  out.shape = [...filterShape];
  return out;
}

/**
 * Stride 1: the input gradient is a forward convolution of dy with the filter rotated by 180
 * degrees and its channel axes swapped, padded by (kernel - 1 - forward padding) on each side;
 * the backend's XNNPACK convolution does it.
 */
function backpropInputByConvolution(
  backend: WasmBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  const rotated = backend.makeOutput([kh, kw, co, ci], 'float32');
  const w = f32(backend, filter);
  const r = f32(backend, rotated);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      const from = ((kh - 1 - y) * kw + (kw - 1 - x)) * ci * co;
      const to = (y * kw + x) * co * ci;
      for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) r[to + o * ci + i] = w[from + i * co + o]!;
    }
  }
  const { top, bottom, left, right } = info.padInfo;
  const pad: backend_util.ExplicitPadding = [
    [0, 0],
    [kh - 1 - top, kh - 1 - bottom],
    [kw - 1 - left, kw - 1 - right],
    [0, 0],
  ];
  try {
    return conv2d!({
      inputs: { x: dy, filter: rotated },
      backend: backend as never,
      attrs: { strides: 1, pad, dataFormat: 'NHWC', dilations: 1 },
    }) as TensorInfo;
  } finally {
    backend.disposeData(rotated.dataId);
  }
}

function conv2DBackpropInput(args: Args<{ dy: TensorInfo; filter: TensorInfo }>): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as ConvBackpropAttrs;
  const { dy, filter } = inputs;
  const inputShape = attrs.inputShape!;
  const info = convInfo(inputShape, filter.shape, attrs);
  const { top, bottom, left, right } = info.padInfo;
  if (
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    Math.max(top, bottom) < info.filterHeight &&
    Math.max(left, right) < info.filterWidth
  ) {
    return backpropInputByConvolution(backend, dy, filter, info);
  }
  const channels = info.inChannels;
  const rows = info.batchSize * info.outHeight * info.outWidth;
  const width = info.filterHeight * info.filterWidth * channels;
  // dcol[(n, y, x), (kh, kw, ci)] = dy[(n, y, x), co] · W[(kh, kw, ci), co]^T
  const filterT = transposed(backend, filter, 1, width, info.outChannels);
  const dy2 = { dataId: dy.dataId, dtype: dy.dtype, shape: [1, rows, info.outChannels] };
  const dcol = matMul(backend, dy2, filterT);
  backend.disposeData(filterT.dataId);
  const dx = backend.makeOutput([...inputShape], 'float32');
  const dv = f32(backend, dx);
  dv.fill(0);
  addColumns(info, dv, f32(backend, dcol));
  backend.disposeData(dcol.dataId);
  return dx;
}

function unsortedSegmentSum(args: Args<{ x: TensorInfo; segmentIds: TensorInfo }>): TensorInfo {
  const { inputs, backend } = args;
  const { x, segmentIds } = inputs;
  const numSegments = (args.attrs as unknown as { numSegments: number }).numSegments;
  if (x.dtype !== 'float32') throw new Error('UnsortedSegmentSum on wasm: only float32 is supported');
  const innerShape = x.shape.slice(segmentIds.shape.length);
  const inner = util.sizeFromShape(innerShape);
  const out = backend.makeOutput([numSegments, ...innerShape], 'float32');
  const xv = f32(backend, x);
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  const ov = f32(backend, out);
  ov.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= numSegments) continue; // as TensorFlow: out-of-range ids are dropped
    const src = i * inner;
    const dst = id * inner;
    for (let j = 0; j < inner; j++) ov[dst + j] = ov[dst + j]! + xv[src + j]!;
  }
  return out;
}

function replace(kernelName: string, kernelFunc: KernelFunc, original?: KernelConfig): void {
  if (original) unregisterKernel(kernelName, 'wasm');
  registerKernel({ ...original, kernelName, backendName: 'wasm', kernelFunc });
}

let registered = false;

/**
 * Adds and replaces the wasm kernels described above (idempotent). Call after importing
 * @tensorflow/tfjs-backend-wasm and before tf.setBackend('wasm').
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  const matMulConfig = getKernel('BatchMatMul', 'wasm');
  if (!matMulConfig) throw new Error('registerWasmTrainingKernels: import @tensorflow/tfjs-backend-wasm first');
  registered = true;
  fastMatMul = matMulConfig.kernelFunc;
  conv2d = getKernel('Conv2D', 'wasm')!.kernelFunc;
  replace('BatchMatMul', batchMatMul as unknown as KernelFunc, matMulConfig);
  replace(
    'Conv2DBackpropFilter',
    conv2DBackpropFilter as unknown as KernelFunc,
    getKernel('Conv2DBackpropFilter', 'wasm'),
  );
  replace(
    'Conv2DBackpropInput',
    conv2DBackpropInput as unknown as KernelFunc,
    getKernel('Conv2DBackpropInput', 'wasm'),
  );
  replace('UnsortedSegmentSum', unsortedSegmentSum as unknown as KernelFunc, getKernel('UnsortedSegmentSum', 'wasm'));
}

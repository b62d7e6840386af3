/**
 * TrainableModel: a layers model seen as flat Float32Array tensors, for a runtime that computes
 * gradients here and applies its own optimizer's deltas.
 *
 * Reading values back uses dataSync(), which the wasm and cpu backends support; on WebGPU use the
 * *Async variants (tfjs-backend-webgpu has no synchronous read-back).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ModelName } from '../../../common/experiment';
import type { Batch, ClassificationSplit, DatasetInfo, Split, TokenBatch, TokenSplit } from '../data/types';
import { DEFAULT_BPTT } from '../data/batches';
import type { Architecture } from './architectures';

export interface TensorSpec {
  /** Stable name, e.g. "fc1/kernel" or "stage1_block1_bn1/moving_mean". */
  name: string;
  shape: readonly number[];
  size: number;
}

export interface LossAndGradients {
  /** Mean cross-entropy of the batch (per example; per token for the language model). */
  loss: number;
  /** One array per trainable tensor, in `trainable` order. */
  gradients: Float32Array[];
}

export interface BorrowedGradients extends LossAndGradients {
  /** Gives the gradients' storage back to the backend; the arrays must not be used after it. */
  release(): void;
}

export interface DeviceGradients {
  loss: number;
  /**
   * Per trainable tensor, in `trainable` order: a buffer holding at least its values where it stays
   * on the GPU, else null...
   */
  buffers: (GPUBuffer | null)[];
  /** ...and the values read back where it does not (null where it stays). */
  host: (Float32Array | null)[];
  /** Disposes the tensors behind the buffers (after the work that reads them has been submitted). */
  release(): void;
}

export type Evaluation =
  { loss: number; accuracy: number; examples: number } | { loss: number; perplexity: number; tokens: number };

export interface TrainableModel {
  readonly name: ModelName;
  readonly info: DatasetInfo;
  /** Trainable tensors in their fixed order: gradients, deltas and weights follow it. */
  readonly trainable: readonly TensorSpec[];
  /** Non-trainable state (batch-norm moving mean and variance), in its fixed order. */
  readonly state: readonly TensorSpec[];
  /** Total number of trainable values. */
  readonly parameterCount: number;
  /** Forward and backward pass in training mode (batch norm uses and updates batch statistics). */
  lossAndGradients(batch: Batch): LossAndGradients;
  lossAndGradientsAsync(batch: Batch): Promise<LossAndGradients>;
  /**
   * The same loss and gradients, without copying them where the backend keeps tensors in host
   * memory (wasm, cpu): the gradients are views of the backend's own storage, valid until
   * release() and only while no other TensorFlow.js call runs (a call may move that memory).
   * Elsewhere (WebGPU) they are read back as by lossAndGradientsAsync. Call release() once done.
   */
  lossAndGradientsBorrowed(batch: Batch): Promise<BorrowedGradients>;
  /**
   * WebGPU: the loss, and the gradients left on the GPU as GPUBuffers of the backend's device
   * (copies made on the GPU by dataToGPU(), valid until release()); null on other backends.
   */
  lossAndGradientsOnDevice(batch: Batch, onDevice?: readonly boolean[]): Promise<DeviceGradients | null>;
  getWeights(): Float32Array[];
  getWeightsAsync(): Promise<Float32Array[]>;
  /**
   * Gives each variable a new tensor with these values. Never in place: the wasm backend keeps
   * XNNPACK operators with the weights packed per tensor, which would go on using the old values.
   */
  setWeights(weights: readonly Float32Array[]): void;
  getState(): Float32Array[];
  getStateAsync(): Promise<Float32Array[]>;
  setState(state: readonly Float32Array[]): void;
  /** Language model: forget the recurrent state carried between training batches. */
  resetRecurrentState(): void;
  /** Inference mode over the first `limit` examples (tokens for the language model) of a split. */
  evaluate(split: Split, limit?: number): Evaluation;
  evaluateAsync(split: Split, limit?: number): Promise<Evaluation>;
  dispose(): void;
}

type Reader = (tensors: tf.Tensor[]) => Promise<Float32Array[]> | Float32Array[];

const syncRead = (tensors: tf.Tensor[]) => {
  if (tf.getBackend() === 'webgpu') {
    throw new Error('the webgpu backend cannot read tensors back synchronously: use the *Async methods');
  }
  return tensors.map((t) => t.dataSync() as Float32Array);
};
const asyncRead = (tensors: tf.Tensor[]) => Promise.all(tensors.map((t) => t.data() as Promise<Float32Array>));

interface HostBackend {
  /** tfjs-backend-wasm: a view of a tensor's storage in the module's heap. */
  typedArrayFromHeap?(info: { dataId: object; shape: number[]; dtype: string }): Float32Array;
  /** tfjs-backend-cpu: each tensor's storage. */
  data?: { get(dataId: object): { values?: unknown } | undefined };
}

/** A float32 tensor's own storage where the backend keeps it in host memory (no copy); null elsewhere. */
function hostView(t: tf.Tensor): Float32Array | null {
  if (t.dtype !== 'float32') return null;
  const name = tf.getBackend();
  const backend = tf.backend() as unknown as HostBackend;
  if (name === 'wasm' && backend.typedArrayFromHeap) {
    return backend.typedArrayFromHeap({ dataId: t.dataId, shape: t.shape, dtype: t.dtype });
  }
  if (name === 'cpu') {
    const values = backend.data?.get(t.dataId)?.values;
    return values instanceof Float32Array && values.length === t.size ? values : null;
  }
  return null;
}

/** Gradients in variable order; a variable the loss does not reach gets zeros. */
function gradientList(variables: tf.Variable[], grads: tf.NamedTensorMap): tf.Tensor[] {
  return variables.map((v) => grads[v.name] ?? tf.zerosLike(v));
}

function specOf(v: tfl.LayerVariable): TensorSpec {
  const shape = [...v.shape] as number[];
  return { name: v.originalName, shape, size: shape.reduce((a, b) => a * b, 1) };
}

function checkArrays(kind: string, specs: readonly TensorSpec[], arrays: readonly Float32Array[]): void {
  if (arrays.length !== specs.length) {
    throw new Error(`${kind}: ${specs.length} tensors expected, got ${arrays.length}`);
  }
  specs.forEach((spec, i) => {
    if (arrays[i]!.length !== spec.size) {
      throw new Error(`${kind}: tensor ${i} (${spec.name}) has ${spec.size} values, got ${arrays[i]!.length}`);
    }
  });
}

export class LayersTrainableModel implements TrainableModel {
  readonly trainable: readonly TensorSpec[];
  readonly state: readonly TensorSpec[];
  readonly parameterCount: number;
  private readonly architecture: Architecture;
  private readonly trainableVars: tfl.LayerVariable[];
  private readonly stateVars: tfl.LayerVariable[];
  private readonly recurrent?: { layers: number; hidden: number };
  private readonly evalBatchSize: number;
  /** Language model: h and c of every layer, carried between training batches. */
  private carried: tf.Tensor[] | null = null;
  private disposed = false;

  constructor(
    readonly name: ModelName,
    readonly info: DatasetInfo,
    architecture: Architecture,
  ) {
    this.architecture = architecture;
    this.recurrent = architecture.recurrent;
    this.evalBatchSize = architecture.evalBatchSize;
    this.trainableVars = architecture.trainable;
    this.stateVars = architecture.state;
    this.trainable = this.trainableVars.map(specOf);
    this.state = this.stateVars.map(specOf);
    this.parameterCount = this.trainable.reduce((sum, s) => sum + s.size, 0);
  }

  private checkBatch(batch: Batch): void {
    if (this.disposed) throw new Error(`model ${this.name} has been disposed`);
    const wants = this.recurrent ? 'tokens' : 'classification';
    if (batch.kind !== wants) throw new Error(`model ${this.name} trains on ${wants} batches, got ${batch.kind}`);
  }

  /** Runs the training step; the returned tensors (loss first, then gradients) belong to the caller. */
  private step(batch: Batch): tf.Tensor[] {
    this.checkBatch(batch);
    const variables = this.trainableVars.map((v) => v.read() as tf.Variable);
    if (batch.kind === 'classification') {
      const { value, grads } = tf.tidy(() => {
        const x = tf.tensor(batch.inputs, [batch.size, ...batch.inputShape]);
        const y = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), this.info.numClasses);
        return tf.variableGrads(() => {
          const [logits] = this.architecture.forward([x], true);
          return tf.losses.softmaxCrossEntropy(y, logits!) as tf.Scalar;
        }, variables);
      });
      return [value, ...gradientList(variables, grads)];
    }
    const tokenBatch = batch as TokenBatch;
    const previous = this.recurrentState(tokenBatch.streams, tokenBatch.resetState);
    let next: tf.Tensor[] = [];
    try {
      const { value, grads } = tf.tidy(() => {
        const tokens = tf.tensor2d(tokenBatch.inputs, [tokenBatch.streams, tokenBatch.steps], 'int32');
        const targets = tf.oneHot(tf.tensor1d(tokenBatch.targets, 'int32'), this.info.numClasses);
        return tf.variableGrads(() => {
          const outputs = this.architecture.forward([tokens, ...previous], true);
          // The new state leaves the tape as plain tensors: the next batch does not backpropagate into it.
          next = outputs.slice(1).map((t) => tf.keep(t));
          const logits = tf.reshape(outputs[0]!, [-1, this.info.numClasses]);
          return tf.losses.softmaxCrossEntropy(targets, logits) as tf.Scalar;
        }, variables);
      });
      this.carried = next;
      return [value, ...gradientList(variables, grads)];
    } catch (error) {
      tf.dispose(next);
      throw error;
    } finally {
      tf.dispose(previous);
    }
  }

  private recurrentState(streams: number, reset: boolean): tf.Tensor[] {
    const { layers, hidden } = this.recurrent!;
    if (!reset && this.carried && this.carried[0]!.shape[0] === streams) {
      const state = this.carried;
      this.carried = null;
      return state;
    }
    this.resetRecurrentState();
    return Array.from({ length: 2 * layers }, () => tf.zeros([streams, hidden]));
  }

  resetRecurrentState(): void {
    if (this.carried) tf.dispose(this.carried);
    this.carried = null;
  }

  private finish(tensors: tf.Tensor[], arrays: Float32Array[]): LossAndGradients {
    tf.dispose(tensors);
    const [loss, ...gradients] = arrays;
    return { loss: loss![0]!, gradients };
  }

  lossAndGradients(batch: Batch): LossAndGradients {
    const tensors = this.step(batch);
    try {
      return this.finish(tensors, syncRead(tensors));
    } catch (error) {
      tf.dispose(tensors);
      throw error;
    }
  }

  async lossAndGradientsAsync(batch: Batch): Promise<LossAndGradients> {
    const tensors = this.step(batch);
    try {
      return this.finish(tensors, await asyncRead(tensors));
    } catch (error) {
      tf.dispose(tensors);
      throw error;
    }
  }

  async lossAndGradientsBorrowed(batch: Batch): Promise<BorrowedGradients> {
    const tensors = this.step(batch);
    try {
      const [loss] = (await tensors[0]!.data()) as Float32Array;
      const views = tensors.slice(1).map(hostView);
      const gradients = views.every((v) => v !== null) ? (views as Float32Array[]) : await asyncRead(tensors.slice(1));
      return { loss: loss!, gradients, release: () => tf.dispose(tensors) };
    } catch (error) {
      tf.dispose(tensors);
      throw error;
    }
  }

  async lossAndGradientsOnDevice(batch: Batch, onDevice?: readonly boolean[]): Promise<DeviceGradients | null> {
    if (tf.getBackend() !== 'webgpu') return null;
    const tensors = this.step(batch);
    const refs: tf.Tensor[] = [];
    try {
      const gradients = tensors.slice(1);
      const buffers = gradients.map((t, i) => {
        if (onDevice && !onDevice[i]) return null;
        const { tensorRef, buffer } = t.dataToGPU();
        refs.push(tensorRef);
        if (!buffer) throw new Error('dataToGPU() gave no GPUBuffer: is the backend webgpu?');
        return buffer;
      });
      // The loss and the tensors compressed on the host come back together.
      const read = await Promise.all(
        tensors.map((t, i) => (i === 0 || buffers[i - 1] === null ? (t.data() as Promise<Float32Array>) : null)),
      );
      tf.dispose(tensors);
      return { loss: read[0]![0]!, buffers, host: read.slice(1), release: () => tf.dispose(refs) };
    } catch (error) {
      tf.dispose(tensors);
      tf.dispose(refs);
      throw error;
    }
  }

  private read(vars: tfl.LayerVariable[]): Float32Array[] {
    // Copies: on the cpu backend dataSync() returns the variable's own storage.
    return syncRead(vars.map((v) => v.read())).map((a) => a.slice());
  }

  private async readAsync(vars: tfl.LayerVariable[]): Promise<Float32Array[]> {
    return (await asyncRead(vars.map((v) => v.read()))).map((a) => a.slice());
  }

  private write(
    kind: string,
    vars: tfl.LayerVariable[],
    specs: readonly TensorSpec[],
    arrays: readonly Float32Array[],
  ): void {
    checkArrays(kind, specs, arrays);
    tf.tidy(() => vars.forEach((v, i) => v.write(tf.tensor(arrays[i]!, v.shape as number[]))));
  }

  getWeights(): Float32Array[] {
    return this.read(this.trainableVars);
  }

  getWeightsAsync(): Promise<Float32Array[]> {
    return this.readAsync(this.trainableVars);
  }

  setWeights(weights: readonly Float32Array[]): void {
    this.write('setWeights', this.trainableVars, this.trainable, weights);
  }

  getState(): Float32Array[] {
    return this.read(this.stateVars);
  }

  getStateAsync(): Promise<Float32Array[]> {
    return this.readAsync(this.stateVars);
  }

  setState(state: readonly Float32Array[]): void {
    this.write('setState', this.stateVars, this.state, state);
  }

  evaluate(split: Split, limit?: number): Evaluation {
    return this.runEvaluation(split, limit, syncRead) as Evaluation;
  }

  async evaluateAsync(split: Split, limit?: number): Promise<Evaluation> {
    return this.runEvaluation(split, limit, asyncRead);
  }

  private runEvaluation(split: Split, limit: number | undefined, reader: Reader): Evaluation | Promise<Evaluation> {
    if (this.disposed) throw new Error(`model ${this.name} has been disposed`);
    if (this.recurrent) {
      if (split.kind !== 'tokens') throw new Error(`model ${this.name} evaluates on a token split, got ${split.kind}`);
      return this.evaluateLanguage(split, limit, reader);
    }
    if (split.kind !== 'classification')
      throw new Error(`model ${this.name} evaluates on a classification split, got ${split.kind}`);
    return this.evaluateClassifier(split, limit, reader);
  }

  /** Sums of loss and correct predictions per chunk, read after every chunk. */
  private evaluateClassifier(
    split: ClassificationSplit,
    limit: number | undefined,
    reader: Reader,
  ): Evaluation | Promise<Evaluation> {
    const count = Math.min(split.size, limit ?? split.size);
    if (count < 1) throw new Error('evaluate: the split is empty');
    const width = split.inputShape.reduce((a, b) => a * b, 1);
    const chunks: [number, number][] = [];
    for (let start = 0; start < count; start += this.evalBatchSize)
      chunks.push([start, Math.min(count, start + this.evalBatchSize)]);
    const run = ([start, end]: [number, number]) =>
      tf.tidy(() => {
        const x = tf.tensor(split.inputs.subarray(start * width, end * width), [end - start, ...split.inputShape]);
        const labels = tf.tensor1d(split.labels.subarray(start, end), 'int32');
        const logits = this.architecture.forward([x], false)[0] as tf.Tensor2D;
        const loss = tf.losses.softmaxCrossEntropy(
          tf.oneHot(labels, this.info.numClasses),
          logits,
          undefined,
          undefined,
          tf.Reduction.SUM,
        );
        const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32'));
        return tf.stack([loss, correct]);
      });
    const total = (sums: Float32Array[]) => {
      let loss = 0;
      let correct = 0;
      for (const s of sums) {
        loss += s[0]!;
        correct += s[1]!;
      }
      return { loss: loss / count, accuracy: correct / count, examples: count };
    };
    return collect(
      chunks.map((c) => () => run(c)),
      reader,
      total,
    );
  }

  /**
   * Perplexity over the first `limit` tokens: they are cut into evalBatchSize contiguous streams
   * read in windows of 35 tokens with the state carried (its own, not the training state).
   */
  private evaluateLanguage(
    split: TokenSplit,
    limit: number | undefined,
    reader: Reader,
  ): Evaluation | Promise<Evaluation> {
    const { layers, hidden } = this.recurrent!;
    const count = Math.min(split.size, limit ?? split.size);
    const streams = Math.max(1, Math.min(this.evalBatchSize, Math.floor((count - 1) / 2)));
    const length = Math.floor(count / streams);
    if (length < 2) throw new Error(`evaluate: ${count} tokens are too few for a language model`);
    const windows: [number, number][] = [];
    for (let t = 0; t < length - 1; t += DEFAULT_BPTT) windows.push([t, Math.min(length - 1, t + DEFAULT_BPTT)]);
    let state: tf.Tensor[] = Array.from({ length: 2 * layers }, () => tf.zeros([streams, hidden]));
    const run = ([from, to]: [number, number]) => {
      const steps = to - from;
      const inputs = new Int32Array(streams * steps);
      const targets = new Int32Array(streams * steps);
      for (let s = 0; s < streams; s++) {
        inputs.set(split.tokens.subarray(s * length + from, s * length + to), s * steps);
        targets.set(split.tokens.subarray(s * length + from + 1, s * length + to + 1), s * steps);
      }
      let next: tf.Tensor[] = [];
      const loss = tf.tidy(() => {
        const outputs = this.architecture.forward([tf.tensor2d(inputs, [streams, steps], 'int32'), ...state], false);
        next = outputs.slice(1).map((t) => tf.keep(t));
        const logits = tf.reshape(outputs[0]!, [-1, this.info.numClasses]);
        const oneHot = tf.oneHot(tf.tensor1d(targets, 'int32'), this.info.numClasses);
        return tf.reshape(tf.losses.softmaxCrossEntropy(oneHot, logits, undefined, undefined, tf.Reduction.SUM), [1]);
      });
      tf.dispose(state);
      state = next;
      return loss;
    };
    const predicted = streams * (length - 1);
    const total = (sums: Float32Array[]) => {
      tf.dispose(state);
      const loss = sums.reduce((a, s) => a + s[0]!, 0) / predicted;
      return { loss, perplexity: Math.exp(loss), tokens: predicted };
    };
    return collect(
      windows.map((w) => () => run(w)),
      reader,
      total,
    );
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.resetRecurrentState();
    this.architecture.dispose();
  }
}

/** Runs the steps in order, reading each step's small result tensor (synchronously or not) before the next. */
function collect<T>(steps: (() => tf.Tensor)[], reader: Reader, finish: (values: Float32Array[]) => T): T | Promise<T> {
  const values: Float32Array[] = [];
  let i = 0;
  const next = (): T | Promise<T> => {
    while (i < steps.length) {
      const tensor = steps[i++]!();
      const read = reader([tensor]);
      if (read instanceof Promise) {
        return read.then(
          (arrays) => {
            tensor.dispose();
            values.push(arrays[0]!);
            return next();
          },
          (error: unknown) => {
            tensor.dispose();
            throw error;
          },
        );
      }
      tensor.dispose();
      values.push(read[0]!);
    }
    return finish(values);
  };
  return next();
}

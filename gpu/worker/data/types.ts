import type { DatasetName } from '../../../common/experiment';

/**
 * What a model needs to know about its data.
 * - Classification: `inputShape` is one example's shape (images NHWC without the batch axis:
 *   [28, 28, 1] for MNIST, [32, 32, 3] for CIFAR-10; [features] for the synthetic task) and
 *   `numClasses` the number of classes.
 * - Language model (PTB): `inputShape` is [] (an example is a token) and `numClasses` is the
 *   vocabulary size.
 */
export interface DatasetInfo {
  name: DatasetName;
  task: 'classification' | 'language-model';
  inputShape: readonly number[];
  numClasses: number;
}

/** Examples with labels; inputs are row-major, one example after the other. */
export interface ClassificationSplit {
  kind: 'classification';
  /** size × prod(inputShape) values, normalised (see each loader). */
  inputs: Float32Array;
  /** size labels in 0..numClasses-1. */
  labels: Int32Array;
  size: number;
  inputShape: readonly number[];
  numClasses: number;
}

/** One token stream (a language-model split): the whole text as token ids, lines ended by <eos>. */
export interface TokenSplit {
  kind: 'tokens';
  tokens: Int32Array;
  /** Number of tokens. */
  size: number;
  vocabularySize: number;
}

export type Split = ClassificationSplit | TokenSplit;

export interface Dataset {
  info: DatasetInfo;
  train: Split;
  test: Split;
  /** PTB's validation text, when ptb.valid.txt is present. */
  validation?: Split;
  /** PTB: token id -> word. */
  vocabulary?: readonly string[];
}

/**
 * A classification mini-batch: `inputs` holds `size` examples of `inputShape` (the tensor shape is
 * [size, ...inputShape]) and `labels` their classes.
 */
export interface ClassificationBatch {
  kind: 'classification';
  inputs: Float32Array;
  labels: Int32Array;
  size: number;
  inputShape: readonly number[];
}

/**
 * A language-model mini-batch (truncated BPTT): `streams` parallel token streams of `steps` tokens,
 * row-major [streams, steps]; `targets` are the inputs shifted by one token. Batch t of an epoch
 * continues batch t-1 of the same rank and epoch stream for stream, so a model carries its
 * recurrent state from one batch to the next and starts from zeros where `resetState` is true (the
 * first batch of every epoch).
 */
export interface TokenBatch {
  kind: 'tokens';
  inputs: Int32Array;
  targets: Int32Array;
  streams: number;
  steps: number;
  resetState: boolean;
}

export type Batch = ClassificationBatch | TokenBatch;

export function isClassification(split: Split): split is ClassificationSplit {
  return split.kind === 'classification';
}

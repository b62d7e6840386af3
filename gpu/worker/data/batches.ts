import { DatasetError } from './errors';
import { Random, deriveSeed } from './random';
import { shardIndices, shardStreams } from './shard';
import type { Batch, ClassificationBatch, ClassificationSplit, Split, TokenBatch, TokenSplit } from './types';

/** Truncated-BPTT length of the PTB language model (Zaremba et al.). */
export const DEFAULT_BPTT = 35;

export interface BatchOptions {
  rank: number;
  worldSize: number;
  /** The run's seed: the data order of epoch e is a function of (seed, e) only. */
  seed: number;
  epoch: number;
  /** Per-rank batch: examples, or for token splits the number of parallel streams. */
  batchSize: number;
  /** Token splits: tokens per stream per batch (default 35). */
  bptt?: number;
  /** Classification: drop the last partial batch of the shard (default true: every batch full). */
  dropLast?: boolean;
  /**
   * Images only: standard CIFAR augmentation, a random 4-pixel-padded crop (padding at 0, the
   * mean after normalisation) and a horizontal flip with probability 1/2, drawn from
   * (seed, epoch, rank, batch). Default false.
   */
  augment?: boolean;
}

interface StreamPlan {
  streamLength: number;
  batches: number;
}

function planStreams(split: TokenSplit, options: BatchOptions): StreamPlan {
  const bptt = options.bptt ?? DEFAULT_BPTT;
  const streams = options.worldSize * options.batchSize;
  const streamLength = Math.floor(split.size / streams);
  const batches = Math.floor((streamLength - 1) / bptt);
  if (batches < 1) {
    throw new DatasetError(
      `${split.size} tokens are too few for ${options.worldSize} ranks x ${options.batchSize} streams x ${bptt} steps: ` +
        `each stream gets ${streamLength} tokens, at least ${bptt + 1} needed`,
    );
  }
  return { streamLength, batches };
}

function classificationBatchCount(split: ClassificationSplit, options: BatchOptions): number {
  const perRank = Math.floor(split.size / options.worldSize);
  const full = Math.floor(perRank / options.batchSize);
  const count = options.dropLast === false ? Math.ceil(perRank / options.batchSize) : full;
  if (count < 1) {
    throw new DatasetError(
      `${split.size} examples give each of ${options.worldSize} ranks ${perRank}, fewer than one batch of ${options.batchSize}`,
    );
  }
  return count;
}

function checkOptions(options: BatchOptions): void {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`);
  }
  if (options.bptt !== undefined && (!Number.isInteger(options.bptt) || options.bptt < 1)) {
    throw new RangeError(`bptt must be a positive integer, got ${options.bptt}`);
  }
}

/** How many batches each rank gets per epoch (the same on every rank and every epoch). */
export function batchesPerEpoch(split: Split, options: BatchOptions): number {
  checkOptions(options);
  return split.kind === 'tokens' ? planStreams(split, options).batches : classificationBatchCount(split, options);
}

/**
 * The batches of rank `rank` in epoch `epoch`, as typed arrays (see ClassificationBatch and
 * TokenBatch). Each batch owns fresh arrays. Classification: the rank's shard (shardIndices) cut
 * in order into batches of batchSize. Tokens: the split is cut into worldSize·batchSize contiguous
 * streams of floor(size / streams) tokens; the rank's rows follow its streams (shardStreams) and
 * batch t covers tokens [t·bptt, (t+1)·bptt) of each, targets one token further.
 */
export function* batches(split: Split, options: BatchOptions): Generator<Batch, void, undefined> {
  checkOptions(options);
  if (split.kind === 'tokens') yield* tokenBatches(split, options);
  else yield* classificationBatches(split, options);
}

function* classificationBatches(split: ClassificationSplit, options: BatchOptions): Generator<ClassificationBatch> {
  const count = classificationBatchCount(split, options);
  const indices = shardIndices(split.size, options.rank, options.worldSize, options.seed, options.epoch);
  const width = split.inputShape.reduce((a, b) => a * b, 1);
  const augment = options.augment === true && split.inputShape.length === 3;
  for (let b = 0; b < count; b++) {
    const start = b * options.batchSize;
    const end = Math.min(indices.length, start + options.batchSize);
    const size = end - start;
    const inputs = new Float32Array(size * width);
    const labels = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const example = indices[start + i]!;
      inputs.set(split.inputs.subarray(example * width, (example + 1) * width), i * width);
      labels[i] = split.labels[example]!;
    }
    if (augment) {
      const random = new Random(deriveSeed(options.seed, 'augment', options.epoch, options.rank, b));
      augmentImages(inputs, size, split.inputShape, random);
    }
    yield { kind: 'classification', inputs, labels, size, inputShape: split.inputShape };
  }
}

function* tokenBatches(split: TokenSplit, options: BatchOptions): Generator<TokenBatch> {
  const bptt = options.bptt ?? DEFAULT_BPTT;
  const { streamLength, batches: count } = planStreams(split, options);
  const streams = shardStreams(options.batchSize, options.rank, options.worldSize, options.seed, options.epoch);
  const rows = options.batchSize;
  for (let t = 0; t < count; t++) {
    const inputs = new Int32Array(rows * bptt);
    const targets = new Int32Array(rows * bptt);
    for (let r = 0; r < rows; r++) {
      const from = streams[r]! * streamLength + t * bptt;
      inputs.set(split.tokens.subarray(from, from + bptt), r * bptt);
      targets.set(split.tokens.subarray(from + 1, from + bptt + 1), r * bptt);
    }
    yield { kind: 'tokens', inputs, targets, streams: rows, steps: bptt, resetState: t === 0 };
  }
}

/** In place: per image, a random crop of the 4-pixel zero-padded image and a random horizontal flip. */
export function augmentImages(inputs: Float32Array, count: number, shape: readonly number[], random: Random): void {
  const [height, width, channels] = shape as [number, number, number];
  const pad = 4;
  const size = height * width * channels;
  const source = new Float32Array(size);
  for (let n = 0; n < count; n++) {
    const image = inputs.subarray(n * size, (n + 1) * size);
    source.set(image);
    const dy = random.nextInt(2 * pad + 1) - pad;
    const dx = random.nextInt(2 * pad + 1) - pad;
    const flip = random.nextInt(2) === 1;
    for (let y = 0; y < height; y++) {
      const sy = y + dy;
      for (let x = 0; x < width; x++) {
        const sx = (flip ? width - 1 - x : x) + dx;
        const out = (y * width + x) * channels;
        if (sy < 0 || sy >= height || sx < 0 || sx >= width) {
          for (let c = 0; c < channels; c++) image[out + c] = 0;
        } else {
          const from = (sy * width + sx) * channels;
          for (let c = 0; c < channels; c++) image[out + c] = source[from + c]!;
        }
      }
    }
  }
}

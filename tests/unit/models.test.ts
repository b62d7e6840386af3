import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  batches,
  loadDataset,
  type ClassificationBatch,
  type DatasetInfo,
  type TokenBatch,
  type TokenSplit,
} from '../../gpu/worker/data';
import { buildModel, initTensorflow, type TrainableModel } from '../../gpu/worker/models';

const MNIST: DatasetInfo = { name: 'mnist', task: 'classification', inputShape: [28, 28, 1], numClasses: 10 };
const CIFAR: DatasetInfo = { name: 'cifar10', task: 'classification', inputShape: [32, 32, 3], numClasses: 10 };
const SYNTHETIC: DatasetInfo = { name: 'synthetic', task: 'classification', inputShape: [32], numClasses: 10 };
const PTB_SMALL: DatasetInfo = { name: 'ptb', task: 'language-model', inputShape: [], numClasses: 50 };
const SMALL_LSTM = { lstm: { hiddenSize: 16, embeddingSize: 8 } };

/** FNV-1a over the bytes of every array. */
function fingerprint(arrays: Float32Array[]): string {
  let h = 0x811c9dc5;
  for (const a of arrays) {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** Plain SGD through setWeights: w -= lr * g. */
function descend(model: TrainableModel, gradients: readonly Float32Array[], lr: number): void {
  model.setWeights(model.getWeights().map((w, t) => w.map((x, i) => x - lr * gradients[t]![i]!)));
}

function imageBatch(info: DatasetInfo, size: number, offset = 0): ClassificationBatch {
  const width = info.inputShape.reduce((a, b) => a * b, 1);
  return {
    kind: 'classification',
    inputs: Float32Array.from({ length: size * width }, (_, i) => Math.sin((i + offset) * 0.731)),
    labels: Int32Array.from({ length: size }, (_, i) => (i + offset) % 10),
    size,
    inputShape: info.inputShape,
  };
}

function tokenBatch(streams: number, steps: number, resetState: boolean, vocabulary = 50): TokenBatch {
  return {
    kind: 'tokens',
    inputs: Int32Array.from({ length: streams * steps }, (_, i) => (i * 7) % vocabulary),
    targets: Int32Array.from({ length: streams * steps }, (_, i) => (i * 7 + 7) % vocabulary),
    streams,
    steps,
    resetState,
  };
}

let backend: string;
beforeAll(async () => {
  backend = await initTensorflow('cpu');
});

describe('initTensorflow', () => {
  it('prefers the WebAssembly backend on the CPU', () => {
    expect(backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe('wasm training kernels', () => {
  /** Runs f on the cpu backend and on wasm, returning both results. */
  function onBoth(f: () => tf.Tensor[]): [Float32Array[], Float32Array[]] {
    const run = (name: string) => {
      tf.setBackend(name);
      return tf.tidy(f).map((t) => {
        const values = t.dataSync().slice() as Float32Array;
        t.dispose();
        return values;
      });
    };
    const reference = run('cpu');
    const wasm = run('wasm');
    return [reference, wasm];
  }

  function expectClose(a: Float32Array[], b: Float32Array[]): void {
    expect(b.length).toBe(a.length);
    a.forEach((x, i) => {
      const scale = Math.max(1e-6, ...Array.from(x, Math.abs));
      const diff = Math.max(...Array.from(x, (v, j) => Math.abs(v - b[i]![j]!)));
      expect(diff / scale).toBeLessThan(1e-5);
    });
  }

  const values = (shape: number[], phase: number) =>
    tf.tensor(
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37 + phase)),
      shape,
    );

  it.each([
    [1, 'same', [2, 8, 8, 3], [3, 3, 3, 4]],
    [2, 'same', [3, 9, 7, 16], [3, 3, 16, 8]],
    [1, 'valid', [2, 12, 12, 1], [5, 5, 1, 20]],
    [2, 'valid', [2, 11, 11, 5], [3, 3, 5, 6]],
    [1, 'same', [1, 6, 6, 2], [2, 2, 2, 3]],
  ] as const)('convolution gradients match the cpu backend (stride %d, %s, %j * %j)', (stride, pad, xShape, wShape) => {
    const [reference, wasm] = onBoth(() => {
      const x = values([...xShape], 0);
      const w = values([...wShape], 1);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad))),
      );
      return g([x, w]);
    });
    expectClose(reference, wasm);
  });

  it('transposed matrix products and the embedding gradient match the cpu backend', () => {
    for (const [ta, tb] of [
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const [reference, wasm] = onBoth(() => [
        tf.matMul(values(ta ? [2, 5, 6] : [2, 6, 5], 0), values(tb ? [1, 7, 5] : [1, 5, 7], 1), ta, tb),
      ]);
      expectClose(reference, wasm);
    }
    const [reference, wasm] = onBoth(() =>
      tf.grads((e: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.gather(
              e,
              tf.tensor2d(
                [
                  [1, 2],
                  [1, 9],
                ],
                [2, 2],
                'int32',
              ),
            ),
            values([4], 2),
          ),
        ),
      )([values([10, 4], 0)]),
    );
    expectClose(reference, wasm);
    expect(Array.from(wasm[0]!.subarray(0, 4))).toEqual([0, 0, 0, 0]);
  });
});

describe('buildModel', () => {
  it('builds every model with named tensors in a fixed order', () => {
    const expected: [Parameters<typeof buildModel>[0], DatasetInfo, number, string[]][] = [
      ['logreg', MNIST, 7850, ['fc/kernel', 'fc/bias']],
      ['fnn', MNIST, 199210, ['fc1/kernel', 'fc1/bias', 'fc2/kernel', 'fc2/bias', 'fc3/kernel', 'fc3/bias']],
      [
        'cnn',
        MNIST,
        431080,
        [
          'conv1/kernel',
          'conv1/bias',
          'conv2/kernel',
          'conv2/bias',
          'fc1/kernel',
          'fc1/bias',
          'fc2/kernel',
          'fc2/bias',
        ],
      ],
      ['resnet20', CIFAR, 269722, ['conv1/kernel', 'bn1/gamma', 'bn1/beta', 'stage1_block1_conv1/kernel']],
      ['synthetic', SYNTHETIC, 6922, ['fc1/kernel', 'fc1/bias', 'fc2/kernel', 'fc2/bias', 'fc3/kernel', 'fc3/bias']],
      ['lstm', PTB_SMALL, 4962, ['embedding/embeddings', 'lstm1/kernel', 'lstm1/recurrent_kernel', 'lstm1/bias']],
    ];
    for (const [name, info, count, names] of expected) {
      const model = buildModel(name, info, 1, SMALL_LSTM);
      expect(model.parameterCount).toBe(count);
      expect(model.trainable.slice(0, names.length).map((t) => t.name)).toEqual(names);
      expect(model.getWeights().map((w) => w.length)).toEqual(model.trainable.map((t) => t.size));
      model.dispose();
    }
    const lstm = buildModel('lstm', { ...PTB_SMALL, numClasses: 10000 }, 1);
    expect(lstm.parameterCount).toBe(4_651_600); // 200-wide embedding and 2 LSTM layers, 10000 words
    lstm.dispose();
  });

  it('refuses a model on a data set it does not train on', () => {
    expect(() => buildModel('resnet20', MNIST, 1)).toThrow('model resnet20 trains on cifar10, not mnist');
  });

  it('initialises deterministically from the seed, bit for bit, on every backend and in every process', () => {
    const a = buildModel('fnn', MNIST, 1);
    const b = buildModel('fnn', MNIST, 1);
    const c = buildModel('fnn', MNIST, 2);
    expect(fingerprint(a.getWeights())).toBe(fingerprint(b.getWeights()));
    expect(fingerprint(c.getWeights())).not.toBe(fingerprint(a.getWeights()));
    // Fingerprints computed in another process: initialisation draws nothing from Math.random or tfjs.
    expect(fingerprint(a.getWeights())).toBe('60a556f1');
    [a, b, c].forEach((m) => m.dispose());
    const resnet = buildModel('resnet20', CIFAR, 1);
    expect(fingerprint(resnet.getWeights())).toBe('8ef4eca0');
    expect(fingerprint(resnet.getState())).toBe('46d8a445');
    resnet.dispose();
    const lstm = buildModel('lstm', PTB_SMALL, 1, SMALL_LSTM);
    expect(fingerprint(lstm.getWeights())).toBe('f607b425');
    lstm.dispose();
    tf.setBackend('cpu');
    try {
      const onCpu = buildModel('resnet20', CIFAR, 1);
      expect(fingerprint(onCpu.getWeights())).toBe('8ef4eca0');
      onCpu.dispose();
    } finally {
      tf.setBackend('wasm');
    }
  });

  it('initialises layers at sensible scales (He for ReLU convolutions, orthogonal recurrences)', () => {
    const resnet = buildModel('resnet20', CIFAR, 3);
    const kernel = resnet.getWeights()[resnet.trainable.findIndex((t) => t.name === 'stage3_block1_conv1/kernel')]!;
    const variance = kernel.reduce((s, v) => s + v * v, 0) / kernel.length;
    expect(variance).toBeCloseTo(2 / (3 * 3 * 32), 3);
    resnet.dispose();
    const lstm = buildModel('lstm', PTB_SMALL, 3, SMALL_LSTM);
    const recurrent = lstm.getWeights()[lstm.trainable.findIndex((t) => t.name === 'lstm1/recurrent_kernel')]!; // 16 x 64
    for (const [i, j] of [
      [0, 0],
      [0, 5],
      [7, 7],
    ]) {
      let dot = 0;
      for (let k = 0; k < 64; k++) dot += recurrent[i! * 64 + k]! * recurrent[j! * 64 + k]!;
      expect(dot).toBeCloseTo(i === j ? 1 : 0, 5);
    }
    lstm.dispose();
  });
});

describe('TrainableModel', () => {
  function expectNoLeak(model: TrainableModel, step: (i: number) => void): void {
    step(0);
    const before = tf.memory().numTensors;
    for (let i = 1; i < 4; i++) step(i);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  }

  it('returns the loss and one gradient per tensor, and leaks no tensors (dense, batch norm, LSTM)', () => {
    const fnn = buildModel('fnn', MNIST, 1);
    expectNoLeak(fnn, (i) => {
      const { loss, gradients } = fnn.lossAndGradients(imageBatch(MNIST, 16, i));
      expect(loss).toBeGreaterThan(0);
      expect(gradients.map((g) => g.length)).toEqual(fnn.trainable.map((t) => t.size));
      descend(fnn, gradients, 0.01);
      fnn.evaluate({ ...imageBatch(MNIST, 20), kind: 'classification', numClasses: 10 }, 15);
    });
    const resnet = buildModel('resnet20', CIFAR, 1);
    expectNoLeak(resnet, (i) => {
      const { gradients } = resnet.lossAndGradients(imageBatch(CIFAR, 2, i));
      descend(resnet, gradients, 0.01);
    });
    const lstm = buildModel('lstm', PTB_SMALL, 1, SMALL_LSTM);
    const text: TokenSplit = {
      kind: 'tokens',
      tokens: Int32Array.from({ length: 200 }, (_, i) => i % 50),
      size: 200,
      vocabularySize: 50,
    };
    expectNoLeak(lstm, (i) => {
      const { gradients } = lstm.lossAndGradients(tokenBatch(3, 5, i === 2));
      descend(lstm, gradients, 0.01);
      lstm.evaluate(text, 100);
    });
  });

  it('reads and writes weights and state', () => {
    const model = buildModel('logreg', MNIST, 4);
    const before = model.getWeights();
    const shifted = before.map((w, t) => Float32Array.from(w, (v, i) => v + (t + 1) * 0.001 * ((i % 7) - 3)));
    model.setWeights(shifted);
    expect(model.getWeights()).toEqual(shifted);
    model.setWeights(before);
    expect(model.getWeights()).toEqual(before);
    expect(() => model.setWeights([new Float32Array(3)])).toThrow('setWeights: 2 tensors expected, got 1');
    expect(() => model.setWeights([before[0]!, new Float32Array(3)])).toThrow(
      'setWeights: tensor 1 (fc/bias) has 10 values, got 3',
    );
    expect(model.state).toEqual([]);
    model.dispose();
  });

  it('keeps batch-norm statistics as state: updated by training, copied to make identical replicas', () => {
    const a = buildModel('resnet20', CIFAR, 5);
    expect(a.state.length).toBe(2 * 19);
    expect(a.state.slice(0, 2).map((s) => s.name)).toEqual(['bn1/moving_mean', 'bn1/moving_variance']);
    const initial = a.getState();
    a.lossAndGradients(imageBatch(CIFAR, 4));
    const trained = a.getState();
    expect(fingerprint(trained)).not.toBe(fingerprint(initial));
    // A replica from another seed, given a's weights and state, behaves identically.
    const b = buildModel('resnet20', CIFAR, 6);
    b.setWeights(a.getWeights());
    b.setState(trained);
    const test = { ...imageBatch(CIFAR, 6, 3), kind: 'classification' as const, numClasses: 10 };
    expect(b.evaluate(test)).toEqual(a.evaluate(test));
    const ga = a.lossAndGradients(imageBatch(CIFAR, 4, 1));
    const gb = b.lossAndGradients(imageBatch(CIFAR, 4, 1));
    expect(gb.loss).toBe(ga.loss);
    expect(fingerprint(gb.gradients)).toBe(fingerprint(ga.gradients));
    expect(fingerprint(b.getState())).toBe(fingerprint(a.getState()));
    [a, b].forEach((m) => m.dispose());
  });

  it('learns the synthetic task in a few epochs with plain SGD', async () => {
    const data = await loadDataset({ name: 'synthetic' });
    const model = buildModel('synthetic', data.info, 1);
    const start = model.evaluate(data.test);
    for (let epoch = 0; epoch < 3; epoch++) {
      for (const batch of batches(data.train, { rank: 0, worldSize: 1, seed: 1, epoch, batchSize: 64 })) {
        const { gradients } = model.lossAndGradients(batch);
        descend(model, gradients, 0.2);
      }
    }
    const end = model.evaluate(data.test);
    expect('accuracy' in start && start.accuracy).toBeLessThan(0.3);
    expect('accuracy' in end && end.accuracy).toBeGreaterThan(0.85);
    expect(end.loss).toBeLessThan(start.loss);
    model.dispose();
  });

  it('carries the LSTM state across batches, resets it on request, and reports perplexity', () => {
    const model = buildModel('lstm', PTB_SMALL, 1, { lstm: { hiddenSize: 16, embeddingSize: 16, layers: 1 } });
    const first = model.lossAndGradients(tokenBatch(2, 6, true));
    const carried = model.lossAndGradients(tokenBatch(2, 6, false));
    const reset = model.lossAndGradients(tokenBatch(2, 6, true));
    expect(reset.loss).toBe(first.loss);
    expect(carried.loss).not.toBe(first.loss);
    // A text where each token fixes the next is learnt quickly: perplexity falls from about the
    // vocabulary size (50) past the 10 of its unigram distribution to near 1.
    const text: TokenSplit = {
      kind: 'tokens',
      tokens: Int32Array.from({ length: 600 }, (_, i) => (i * 7) % 10),
      size: 600,
      vocabularySize: 50,
    };
    const before = model.evaluate(text);
    expect('perplexity' in before && before.perplexity).toBeGreaterThan(30);
    for (let epoch = 0; epoch < 6; epoch++) {
      for (const batch of batches(text, { rank: 0, worldSize: 1, seed: 1, epoch, batchSize: 4, bptt: 10 })) {
        const { gradients } = model.lossAndGradients(batch);
        descend(model, gradients, 2);
      }
    }
    const after = model.evaluate(text);
    expect('perplexity' in after && after.perplexity).toBeLessThan(2);
    expect(() => model.lossAndGradients(imageBatch(MNIST, 1))).toThrow(
      'model lstm trains on tokens batches, got classification',
    );
    model.dispose();
  });

  it('trains VGG-16 for a step', () => {
    const model = buildModel('vgg16', CIFAR, 1);
    expect(model.parameterCount).toBe(14_724_042);
    const { loss, gradients } = model.lossAndGradients(imageBatch(CIFAR, 1));
    expect(Number.isFinite(loss)).toBe(true);
    expect(gradients.length).toBe(model.trainable.length);
    model.dispose();
  });
});

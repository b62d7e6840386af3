/**
 * common/modelCost.ts counts parameters from the shape constants the TensorFlow.js builders use; these tests
 * hold the count to what the built models report, and the multiply-adds to hand-worked values.
 */
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { MODEL_DATASETS, MODELS } from '../../common/experiment';
import { DATASET_SHAPES, modelCost, trainingFlopsPerExample } from '../../common/modelCost';
import type { DatasetInfo } from '../../gpu/worker/data';
import { buildModel, initTensorflow } from '../../gpu/worker/models';

beforeAll(async () => {
  await initTensorflow('cpu');
});

describe('modelCost', () => {
  for (const model of MODELS) {
    const dataset = MODEL_DATASETS[model][0]!;
    it(`counts ${model}'s parameters on ${dataset} as the TensorFlow.js model reports them`, () => {
      const shape = DATASET_SHAPES[dataset];
      const task = dataset === 'ptb' ? 'language-model' : 'classification';
      const info: DatasetInfo = { name: dataset, task, ...shape };
      const built = buildModel(model, info, 1);
      try {
        expect(modelCost(model, shape).parameters).toBe(built.parameterCount);
      } finally {
        built.dispose();
      }
    }, 60_000);
  }

  it('counts a small LSTM with its options as built', () => {
    const shape = { inputShape: [], numClasses: 50 };
    const options = { hiddenSize: 16, embeddingSize: 8 };
    const built = buildModel('lstm', { name: 'ptb', task: 'language-model', ...shape }, 1, { lstm: options });
    try {
      expect(modelCost('lstm', shape, options).parameters).toBe(built.parameterCount);
    } finally {
      built.dispose();
    }
  });

  it('counts multiply-adds per example by hand', () => {
    // fnn on MNIST: 784x200 + 200x200 + 200x10.
    expect(modelCost('fnn', DATASET_SHAPES.mnist).forwardMacs).toBe(784 * 200 + 200 * 200 + 200 * 10);
    // LeNet: 24x24 outputs of 5x5x1x20, 8x8 of 5x5x20x50, then 800x500 and 500x10.
    expect(modelCost('cnn', DATASET_SHAPES.mnist).forwardMacs).toBe(
      24 * 24 * 25 * 20 + 8 * 8 * 25 * 20 * 50 + 800 * 500 + 500 * 10,
    );
    // ResNet-20 is about 41 M multiply-adds per 32x32 image (He et al. quote 41 M FLOPs counting multiply-adds).
    expect(modelCost('resnet20', DATASET_SHAPES.cifar10).forwardMacs / 1e6).toBeCloseTo(40.6, 0);
    // LSTM per token: two layers of 4 gates over [input, hidden] of 200 + 200, and the 200 x 10000 decoder.
    expect(modelCost('lstm', DATASET_SHAPES.ptb).forwardMacs).toBe(2 * 4 * 200 * 400 + 200 * 10_000);
    expect(trainingFlopsPerExample({ parameters: 0, forwardMacs: 10 })).toBe(60);
  });

  it('refuses an image model on a flat input, naming the shape', () => {
    expect(() => modelCost('cnn', DATASET_SHAPES.synthetic)).toThrow('height x width x channels, not [32]');
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { ClassificationBatch, DatasetInfo } from '../../gpu/worker/data';
import { buildModel, initTensorflow } from '../../gpu/worker/models';

const MNIST: DatasetInfo = { name: 'mnist', task: 'classification', inputShape: [28, 28, 1], numClasses: 10 };

const batch: ClassificationBatch = {
  kind: 'classification',
  inputs: Float32Array.from({ length: 8 * 784 }, (_, i) => Math.sin(i * 0.731)),
  labels: Int32Array.from({ length: 8 }, (_, i) => i % 10),
  size: 8,
  inputShape: [28, 28, 1],
};

describe('WebGPU backend', () => {
  it('computes the same loss and gradients as wasm, read back asynchronously', async () => {
    expect(await initTensorflow('cpu')).toBe('wasm');
    const reference = buildModel('logreg', MNIST, 1);
    const expected = reference.lossAndGradients(batch);
    reference.dispose();
    // Like tests/gpu, this needs an adapter: a GPU, or SwiftShader from Debian's chromium.
    expect(await initTensorflow('webgpu')).toBe('webgpu');
    const model = buildModel('logreg', MNIST, 1);
    expect(() => model.lossAndGradients(batch)).toThrow('the webgpu backend cannot read tensors back synchronously');
    const actual = await model.lossAndGradientsAsync(batch);
    expect(actual.loss).toBeCloseTo(expected.loss, 4);
    actual.gradients.forEach((g, i) => {
      const want = expected.gradients[i]!;
      let scale = 0;
      let diff = 0;
      for (let j = 0; j < g.length; j++) {
        scale = Math.max(scale, Math.abs(want[j]!));
        diff = Math.max(diff, Math.abs(g[j]! - want[j]!));
      }
      expect(diff / scale).toBeLessThan(1e-3);
    });
    const evaluation = await model.evaluateAsync({ ...batch, numClasses: 10 });
    expect(evaluation.loss).toBeCloseTo(expected.loss, 4);
    model.dispose();
    expect(tf.getBackend()).toBe('webgpu');
  });
});

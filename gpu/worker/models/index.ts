import * as tf from '@tensorflow/tfjs-core';
import { MODEL_DATASETS, type ModelName } from '../../../common/experiment';
import type { DatasetInfo } from '../data/types';
import { buildArchitecture, type ModelOptions } from './architectures';
import { initialValues } from './init';
import { LayersTrainableModel, type TrainableModel } from './trainable';

export {
  initTensorflow,
  modelAdapter,
  modelGpuDevice,
  wasmBinariesFolder,
  BackendError,
  type BackendPreference,
  type WorkerAdapter,
} from './backend';
export { registerWasmTrainingKernels } from './tfjsWasmTrainingKernels';
export { buildArchitecture, type Architecture, type LstmOptions, type ModelOptions } from './architectures';
export { initialValues, fans, type InitRule } from './init';
export { ZeroPadShortcut } from './layers';
export {
  LayersTrainableModel,
  type BorrowedGradients,
  type DeviceGradients,
  type Evaluation,
  type LossAndGradients,
  type TensorSpec,
  type TrainableModel,
} from './trainable';

/**
 * Builds `name` for the data set described by `dataset`, with weights drawn deterministically
 * from `seed` (the same bits in every process and on every backend). Call initTensorflow() first.
 */
export function buildModel(
  name: ModelName,
  dataset: DatasetInfo,
  seed: number,
  options: ModelOptions = {},
): TrainableModel {
  if (!MODEL_DATASETS[name].includes(dataset.name)) {
    throw new Error(`model ${name} trains on ${MODEL_DATASETS[name].join(' or ')}, not ${dataset.name}`);
  }
  const architecture = buildArchitecture(name, dataset, options);
  const { rules } = architecture;
  tf.tidy(() => {
    for (const variable of [...architecture.trainable, ...architecture.state]) {
      const rule = rules.get(variable.originalName);
      if (!rule) continue; // created by a deterministic initializer (zeros, ones, unit forget bias)
      const shape = [...variable.shape] as number[];
      variable.write(tf.tensor(initialValues(rule, shape, seed, variable.originalName), shape));
      rules.delete(variable.originalName);
    }
  });
  if (rules.size > 0) throw new Error(`initialisation rules for missing weights: ${[...rules.keys()].join(', ')}`);
  return new LayersTrainableModel(name, dataset, architecture);
}

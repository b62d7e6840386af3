/** The small experiment the tests build on, each overriding what it is about. */
import type { ExperimentInput } from '../common/experiment';

/** Two CPU workers learning the synthetic task for an epoch, one Top_k arm at density 0.05. */
export function syntheticExperiment(overrides: Partial<ExperimentInput> = {}): ExperimentInput {
  return {
    name: 'synthetic-test',
    model: 'synthetic',
    dataset: { name: 'synthetic' },
    workers: 2,
    backend: 'cpu',
    epochs: 1,
    batchSize: 32,
    optimizer: { lr: 0.05 },
    arms: [{ method: 'topk', density: 0.05 }],
    ...overrides,
  };
}

/** The fully-connected network on MNIST with one Dense arm, as the schema tests give it (never run). */
export function mnistExperiment(overrides: Partial<ExperimentInput> = {}): ExperimentInput {
  return syntheticExperiment({
    name: 'e',
    model: 'fnn',
    dataset: { name: 'mnist' },
    optimizer: { lr: 0.1 },
    arms: [{ method: 'dense' }],
    ...overrides,
  });
}

/** The form's plain fields, section by section, as data: DesignerForm renders each list with one FieldInput. */
import type { ExperimentForm } from './form';

type TextKey = { [K in keyof ExperimentForm]: ExperimentForm[K] extends string ? K : never }[keyof ExperimentForm];

export interface FieldSpec {
  key: TextKey;
  label: string;
  /** Dotted path in the experiment (errors, test ids). */
  path: string;
  placeholder?: string;
  hint?: string;
  /** Choices for a select: values, or [value, label] pairs (see FieldInput). */
  options?: readonly (string | readonly [string, string])[];
  wide?: boolean;
}

/**
 * A select's choices, led by '' (the field left unset: the schema's default, which is the first choice),
 * labelled as that default, e.g. 'auto (default)'.
 */
function withDefault(...choices: [string | readonly [string, string], ...(string | readonly [string, string])[]]) {
  const first = choices[0];
  return [['', `${typeof first === 'string' ? first : first[0]} (default)`] as const, ...choices];
}

/** The Experiment section's fields after the dataset (name, model and dataset have their own handlers). */
export const DATASET_LIMIT_FIELDS: readonly FieldSpec[] = [
  { key: 'trainLimit', label: 'Train examples (limit)', path: 'dataset.trainLimit', placeholder: 'all' },
  { key: 'testLimit', label: 'Test examples (limit)', path: 'dataset.testLimit', placeholder: 'all' },
];

export const TRAINING_FIELDS: readonly FieldSpec[] = [
  { key: 'workers', label: 'Workers P', path: 'workers', placeholder: '4' },
  {
    key: 'backend',
    label: 'Backend',
    path: 'backend',
    options: withDefault('auto', 'cpu', 'webgpu'),
  },
  {
    key: 'engine',
    label: 'Engine',
    path: 'engine',
    options: withDefault('native', ['torch', 'torch (torchrun)']),
  },
  { key: 'epochs', label: 'Epochs', path: 'epochs' },
  { key: 'batchSize', label: 'Batch size (per worker)', path: 'batchSize' },
  {
    key: 'densityWarmup',
    label: 'Density warm-up (per epoch)',
    path: 'densityWarmup',
    placeholder: 'none, e.g. 0.015625, 0.004',
    hint: "densities for the first epochs, then each arm's own",
    wide: true,
  },
  {
    key: 'granularity',
    label: 'Granularity',
    path: 'granularity',
    options: withDefault(['layer', 'layer: per tensor'], ['model', 'model: flattened']),
  },
  { key: 'seeds', label: 'Seeds', path: 'seeds', placeholder: '1', hint: 'one run per arm and seed' },
];

export const OPTIMIZER_FIELDS: readonly FieldSpec[] = [
  { key: 'lr', label: 'Learning rate', path: 'optimizer.lr' },
  { key: 'momentum', label: 'Momentum', path: 'optimizer.momentum', placeholder: '0.9' },
  { key: 'weightDecay', label: 'Weight decay', path: 'optimizer.weightDecay', placeholder: '0' },
  { key: 'warmupEpochs', label: 'LR warm-up epochs', path: 'optimizer.warmupEpochs', placeholder: '0' },
  {
    key: 'schedule',
    label: 'Schedule',
    path: 'optimizer.schedule.type',
    options: withDefault('constant', 'step', 'cosine'),
  },
];

/** Shown with the schedule that uses them. */
export const SCHEDULE_FIELDS: Record<string, readonly FieldSpec[]> = {
  step: [
    { key: 'milestones', label: 'Milestones (epochs)', path: 'optimizer.schedule.milestones', placeholder: '80, 120' },
    { key: 'gamma', label: 'Gamma', path: 'optimizer.schedule.gamma', placeholder: '0.1' },
  ],
  cosine: [{ key: 'minLr', label: 'Min LR', path: 'optimizer.schedule.minLr', placeholder: '0' }],
};

export const EVALUATION_FIELDS: readonly FieldSpec[] = [
  { key: 'everyEpochs', label: 'Evaluate every (epochs)', path: 'evaluation.everyEpochs', placeholder: '1' },
  { key: 'target', label: 'Target (accuracy / perplexity)', path: 'evaluation.target', placeholder: 'none' },
  { key: 'statsEvery', label: 'Statistics every (iterations)', path: 'statistics.everyIterations', placeholder: '10' },
  { key: 'histogramBins', label: 'Histogram bins', path: 'statistics.histogramBins', placeholder: '64' },
  {
    key: 'histogramIterations',
    label: 'Histogram iterations',
    path: 'statistics.histogramIterations',
    placeholder: '0, 100, 500, 1000',
    wide: true,
  },
  {
    key: 'onWorkerLoss',
    label: 'On worker loss',
    path: 'faults.onWorkerLoss',
    options: withDefault('fail', ['wait', 'wait for a replacement']),
  },
  {
    key: 'checkpointEvery',
    label: 'Checkpoint every (iterations)',
    path: 'faults.checkpointEveryIterations',
    placeholder: '200',
  },
  { key: 'waitSeconds', label: 'Wait (seconds)', path: 'faults.waitSeconds', placeholder: '300' },
];

import { z } from 'zod';
import { SPARSIFIER_METHODS } from './sparsifier';

/** Models the runtime can build (TensorFlow.js layers), with the datasets each one trains on. */
export const MODELS = ['logreg', 'fnn', 'cnn', 'resnet20', 'vgg16', 'lstm', 'synthetic'] as const;
export type ModelName = (typeof MODELS)[number];

export const DATASETS = ['mnist', 'fashion-mnist', 'cifar10', 'ptb', 'synthetic'] as const;
export type DatasetName = (typeof DATASETS)[number];

export const MODEL_DATASETS: Record<ModelName, readonly DatasetName[]> = {
  logreg: ['mnist', 'fashion-mnist', 'synthetic'],
  fnn: ['mnist', 'fashion-mnist', 'synthetic'],
  cnn: ['mnist', 'fashion-mnist'],
  resnet20: ['cifar10'],
  vgg16: ['cifar10'],
  lstm: ['ptb'],
  synthetic: ['synthetic'],
};

/**
 * Ranks per run: each is a worker process (launch spawns the missing ones locally) and a
 * connection the hub serves every iteration, so an experiment cannot ask for an unbounded number.
 */
export const MAX_WORKERS = 256;

const positive = z.number().positive('must be greater than 0');
const positiveInt = z.number().int('must be an integer').positive('must be at least 1');

/** The engines that can train an experiment's runs. */
export const ENGINES = ['native', 'torch'] as const;
export type EngineName = (typeof ENGINES)[number];

export const torchOptionsSchema = z
  .object({
    /** A Python with torch; else --python, $SPARSELAB_PYTHON, /usr/bin/python3 or python3. */
    python: z.string().min(1).optional(),
    /** Machines the ranks are spread over: `workers` ranks on each (more than 1: started by hand, see the README). */
    nodes: positiveInt.max(1024).default(1),
    /** host:port of node 0's rendezvous, reachable from every node (several nodes only). */
    rendezvous: z
      .string()
      .regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port')
      .optional(),
  })
  .strict();

export const armSchema = z
  .object({
    /** Legend name; defaults to the method and density, e.g. "gaussiank@0.001". */
    name: z.string().min(1).optional(),
    method: z.enum(SPARSIFIER_METHODS),
    density: positive.max(1, 'must be at most 1').optional(),
    k: positiveInt.optional(),
    errorFeedback: z.boolean().default(true),
    sampleRatio: positive.max(1).default(0.01),
  })
  .strict()
  .refine((a) => a.method === 'dense' || (a.density === undefined) !== (a.k === undefined), {
    message: 'give exactly one of density or k',
    path: ['density'],
  });

export const scheduleSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('constant') }).strict(),
  /** lr * gamma^(number of milestones passed), milestones in epochs. */
  z.object({ type: z.literal('step'), milestones: z.array(positiveInt), gamma: positive.max(1) }).strict(),
  z.object({ type: z.literal('cosine'), minLr: z.number().nonnegative().default(0) }).strict(),
]);

export const experimentSchema = z
  .object({
    name: z.string().min(1, 'must not be empty'),
    description: z.string().optional(),
    model: z.enum(MODELS),
    dataset: z
      .object({
        name: z.enum(DATASETS),
        /** Folder holding the dataset's files (Fashion-MNIST, CIFAR-10, PTB); MNIST ships with SparseLab. */
        path: z.string().optional(),
        /** Use only the first N training examples (quick experiments, tests). */
        trainLimit: positiveInt.optional(),
        testLimit: positiveInt.optional(),
      })
      .strict(),
    /** Data-parallel ranks per run (P). */
    workers: positiveInt.max(MAX_WORKERS, `must be at most ${MAX_WORKERS} (each rank is a worker process)`).default(4),
    /** Compute backend of the workers; auto picks WebGPU where an adapter exists. */
    backend: z.enum(['auto', 'cpu', 'webgpu']).default('auto'),
    /**
     * Who trains the runs: SparseLab's own workers through the hub ("native"), or torch.distributed under
     * torchrun ("torch": gloo on CPUs, NCCL with one GPU per rank where CUDA is available).
     */
    engine: z.enum(ENGINES).default('native'),
    /** The torch engine's options. */
    torch: torchOptionsSchema.optional(),
    /** On one machine with fewer GPUs than workers, let ranks share GPUs (otherwise the run is refused before launch). */
    shareGpus: z.boolean().default(false),
    epochs: positive,
    /** Per-worker mini-batch. */
    batchSize: positiveInt,
    optimizer: z
      .object({
        lr: positive,
        momentum: z.number().min(0).max(1).default(0.9),
        weightDecay: z.number().nonnegative().default(0),
        schedule: scheduleSchema.default({ type: 'constant' }),
        /** Linear learning-rate warm-up over this many epochs. */
        warmupEpochs: z.number().nonnegative().default(0),
      })
      .strict(),
    /** Densities for the first epochs (paper.md's warm-up), then each arm's own. */
    densityWarmup: z.array(positive.max(1)).default([]),
    /** Compress each tensor on its own ("layer") or the flattened model at once ("model"). */
    granularity: z.enum(['layer', 'model']).default('layer'),
    seeds: z.array(z.number().int().nonnegative()).min(1).default([1]),
    arms: z.array(armSchema).min(1, 'needs at least one arm'),
    evaluation: z
      .object({
        /** Evaluate on the test set this often, in epochs (fractions allowed). */
        everyEpochs: positive.default(1),
        /** Accuracy (or, for language models, perplexity) the comparison reports time-to for. */
        target: z.number().positive().optional(),
      })
      .strict()
      .default({ everyEpochs: 1 }),
    statistics: z
      .object({
        /** Record the compressor's statistics (rho, bounds, overlap, moments) every N iterations. */
        everyIterations: positiveInt.default(10),
        /** Record histograms of u at these iterations (per layer). */
        histogramIterations: z.array(z.number().int().nonnegative()).default([0, 100, 500, 1000]),
        histogramBins: positiveInt.max(1024).default(64),
      })
      .strict()
      .default({ everyIterations: 10, histogramIterations: [0, 100, 500, 1000], histogramBins: 64 }),
    faults: z
      .object({
        /** What a run does when a worker dies or goes silent. */
        onWorkerLoss: z.enum(['fail', 'wait']).default('fail'),
        /** Checkpoint (weights, optimizer state, every rank's residuals) this often. */
        checkpointEveryIterations: positiveInt.default(200),
        /** With 'wait': how long to wait for a replacement before failing. */
        waitSeconds: positive.default(300),
        /**
         * A rank that reports no progress (iterations, an evaluation, a checkpoint) for this long fails its
         * run, or with 'wait' is replaced; default by model (DEFAULT_STALL_SECONDS).
         */
        stallSeconds: positive.optional(),
      })
      .strict()
      .default({ onWorkerLoss: 'fail', checkpointEveryIterations: 200, waitSeconds: 300 }),
  })
  .strict()
  .superRefine((e, ctx) => {
    if (!MODEL_DATASETS[e.model].includes(e.dataset.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['dataset', 'name'],
        message: `model ${e.model} trains on ${MODEL_DATASETS[e.model].join(' or ')}, not ${e.dataset.name}`,
      });
    }
    if (e.engine === 'torch' && e.backend === 'webgpu') {
      ctx.addIssue({
        code: 'custom',
        path: ['backend'],
        message: 'the torch engine runs on CUDA GPUs or the CPU: backend auto or cpu, not webgpu',
      });
    }
    if (e.engine === 'native' && e.torch !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['torch'], message: 'torch options apply to engine: torch only' });
    }
    if ((e.torch?.nodes ?? 1) > 1 && !e.torch?.rendezvous) {
      ctx.addIssue({
        code: 'custom',
        path: ['torch', 'rendezvous'],
        message: 'several nodes need the host:port of node 0 that every node reaches',
      });
    }
    if (['fashion-mnist', 'cifar10', 'ptb'].includes(e.dataset.name) && !e.dataset.path) {
      ctx.addIssue({
        code: 'custom',
        path: ['dataset', 'path'],
        message: `${e.dataset.name} needs the folder holding its files`,
      });
    }
  });

export type Experiment = z.infer<typeof experimentSchema>;
export type ExperimentInput = z.input<typeof experimentSchema>;
export type Arm = z.infer<typeof armSchema>;

/**
 * Progress deadline per model, seconds: above the longest quiet spell of a healthy rank on a shared CPU
 * (loading the data and building the model before the first records, ten iterations, an evaluation pass).
 */
export const DEFAULT_STALL_SECONDS: Record<ModelName, number> = {
  synthetic: 60,
  logreg: 60,
  fnn: 120,
  cnn: 300,
  lstm: 600,
  resnet20: 600,
  vgg16: 1800,
};

export function stallSecondsOf(experiment: Experiment): number {
  return experiment.faults.stallSeconds ?? DEFAULT_STALL_SECONDS[experiment.model];
}

export function armName(arm: Arm): string {
  if (arm.name) return arm.name;
  if (arm.method === 'dense') return 'dense';
  return `${arm.method}@${arm.density ?? `k=${arm.k}`}`;
}

/** One run: an arm of an experiment with one seed, trained by `workers` ranks. */
export interface RunSpec {
  experiment: Experiment;
  arm: Arm;
  seed: number;
}

/** Density in force at an epoch: the warm-up's entry, then the arm's own. */
export function densityAt(experiment: Experiment, arm: Arm, epoch: number): number | undefined {
  const warm = experiment.densityWarmup[Math.floor(epoch)];
  return warm !== undefined && arm.density !== undefined ? Math.max(warm, arm.density) : arm.density;
}

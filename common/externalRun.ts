/**
 * External runs: runs trained outside SparseLab's workers (a PyTorch DDP job using sparselab_torch), whose
 * rank 0 registers the run with the hub and streams the records a native run's workers send.
 *
 * Such a connection opens with `registerRun` instead of `hello`; the hub answers `runRegistered` with the new
 * run's id, or `refused`. Afterwards it may send `metrics` (records of its own run only), `log`, `status` and
 * `heartbeat`; the hub sends `heartbeat`, and `cancel` when someone cancels the run in SparseLab. An external
 * connection is never a worker: it gets no assignments and takes no part in collectives.
 *
 * Without a hub the client writes the same messages, one JSON object per line, to a file that
 * `sparselab import FILE` records later (EXTERNAL_RUN_FILE below).
 *
 * Environment-free: no Node, no DOM.
 */
import { z } from 'zod';
import { armSchema, experimentSchema, type Experiment } from './experiment';
import { recordId } from './records';

const positive = z.number().positive('must be greater than 0');
const positiveInt = z.number().int('must be an integer').positive('must be at least 1');
const text = (max: number) => z.string().min(1).max(max);

/** What the training script says about its run when it registers. */
export const externalRunSpecSchema = z
  .object({
    /** Runs registered under the same experiment name are grouped in one experiment (Compare them together). */
    experiment: text(256),
    arm: armSchema,
    seed: z.number().int().nonnegative().default(0),
    /** Data-parallel ranks of the job. */
    worldSize: positiveInt,
    epochs: positive,
    /** Per-rank mini-batch. */
    batchSize: positiveInt,
    lr: positive,
    momentum: z.number().min(0).max(1).default(0),
    /** Iterations per epoch, when the script knows them: the run's progress and ETA. */
    iterationsPerEpoch: positiveInt.optional(),
    /** Free text: the user's model and dataset (not one of SparseLab's own). */
    model: text(256),
    dataset: text(256),
    statisticsEveryIterations: positiveInt.default(10),
    /** Accuracy the comparison reports the time to. */
    evaluationTarget: z.number().positive().optional(),
    framework: z
      .object({
        name: text(64),
        version: text(64),
        /** torch.distributed backend: gloo, nccl, ... */
        backend: text(64),
        python: text(64).optional(),
      })
      .strict(),
    host: z.string().max(256),
    pid: z.number().int().nonnegative(),
    /** Each rank's device, e.g. "cpu" or "cuda:0 (NVIDIA H200)". */
    devices: z.array(z.string().max(256)).max(4096).default([]),
    /**
     * A run SparseLab launched itself (the torch engine): the records go to that run, which already exists. The key,
     * made for this launch and given to its processes only, proves the connection belongs to it.
     */
    launch: z
      .object({ runId: text(256), key: text(256) })
      .strict()
      .optional(),
  })
  .strict();

export type ExternalRunSpec = z.output<typeof externalRunSpecSchema>;
export type ExternalRunSpecInput = z.input<typeof externalRunSpecSchema>;

export const registerRunSchema = z.object({
  type: z.literal('registerRun'),
  token: z.string().max(1024),
  protocolVersion: z.number().int(),
  spec: externalRunSpecSchema,
});

export const runRegisteredSchema = z.object({
  type: z.literal('runRegistered'),
  runId: recordId,
  heartbeatMs: positiveInt,
  /** The hub drops the connection (and fails the run) after this long without hearing from it. */
  silenceMs: positiveInt,
  maxFrameBytes: positiveInt,
});

/**
 * The file format of an external run written without a hub (JSON Lines): the first line is a `registerRun`
 * message without its token, every later line a `metrics`, `log` or `status` message. Records carry
 * EXTERNAL_RUN_FILE.runId; the import gives them the new run's id.
 */
export const EXTERNAL_RUN_FILE = { format: 'sparselab-external-run', version: 1, runId: 'local' } as const;

/** The first line of such a file. */
export const externalRunFileHeaderSchema = z
  .object({
    type: z.literal('registerRun'),
    format: z.literal(EXTERNAL_RUN_FILE.format),
    version: z.literal(EXTERNAL_RUN_FILE.version),
    spec: externalRunSpecSchema,
  })
  .strict();

/** The experiment an external run is recorded under: SparseLab's schema, describing what ran elsewhere. */
export function externalExperiment(spec: ExternalRunSpec): Experiment {
  const f = spec.framework;
  return experimentSchema.parse({
    name: spec.experiment,
    description:
      `External run: ${spec.model} on ${spec.dataset}, trained by ${f.name} ${f.version} (${f.backend}) ` +
      `outside SparseLab's workers; model and dataset below are placeholders.`,
    model: 'synthetic',
    dataset: { name: 'synthetic' },
    workers: spec.worldSize,
    backend: 'cpu',
    epochs: spec.epochs,
    batchSize: spec.batchSize,
    optimizer: { lr: spec.lr, momentum: spec.momentum },
    seeds: [spec.seed],
    arms: [spec.arm],
    evaluation: { everyEpochs: 1, ...(spec.evaluationTarget ? { target: spec.evaluationTarget } : {}) },
    statistics: { everyIterations: spec.statisticsEveryIterations, histogramIterations: [] },
  });
}

/** A run's environment marks it external: it cannot be resumed on SparseLab's workers. */
export interface ExternalEnvironment {
  framework: ExternalRunSpec['framework'];
  model: string;
  dataset: string;
}

export function isExternalEnvironment(environment: { [key: string]: unknown } | null): boolean {
  return environment !== null && typeof environment.external === 'object' && environment.external !== null;
}

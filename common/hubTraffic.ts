/**
 * What a native run asks of the hub each iteration, and whether one hub can carry it. Every gradient of a native
 * run passes through the hub, one Node thread: for a sparse method it sends every rank every rank's (index, value)
 * pairs, P^2 * 8k bytes per iteration; for Dense it sends every rank the 4d-byte average, P * 4d. The torch
 * engine exchanges gradients between its ranks directly (gloo or NCCL) and sends the hub only the records.
 *
 * Environment-free: no Node, no DOM.
 */
import { armName, type Arm, type Experiment } from './experiment';
import { experimentModelCost } from './modelCost';
import { selectionSize } from './sparsifier';

/**
 * Bytes per second the hub sent, measured here: the native Dense run of the default MNIST experiment
 * (bench/results/2026-11-29-cpu-2core-training.json: 4 ranks x 4 x 199,210 bytes per iteration in a mean
 * exchange of 18.3 ms, about 174 MB/s on this 2-core machine, waits included, so the hub's own rate is higher).
 */
export const HUB_BYTES_PER_SECOND = 174e6;
/** More hub time than this per iteration makes the hub, not the models, set the pace. */
const HUB_SECONDS_PER_ITERATION_LIMIT = 0.1;
/** The protocol's largest frame (common/protocol.ts): one Dense contribution must fit. */
const HUB_FRAME_LIMIT_BYTES = 512 * 1024 * 1024;

/** Trainable parameters of the experiment's model on its data set (PTB at its full vocabulary). */
export function modelParameters(experiment: Pick<Experiment, 'model' | 'dataset'>): number {
  return experimentModelCost(experiment).parameters;
}

/**
 * What one rank sends per iteration for an arm on a d-parameter model: k coordinates (over the whole model), as
 * 8k bytes of (index, value) pairs, or Dense's 4d-byte gradient.
 */
export function rankMessage(arm: Arm, d: number): { k: number; bytes: number } {
  if (arm.method === 'dense') return { k: d, bytes: 4 * d };
  const k = selectionSize(d, arm);
  return { k, bytes: 8 * k };
}

export interface HubTraffic {
  arm: string;
  /** Bytes the hub sends per iteration. */
  bytesPerIteration: number;
  /** At HUB_BYTES_PER_SECOND. */
  secondsPerIteration: number;
  /** One rank's message, in bytes. */
  frameBytes: number;
}

/** The hub's traffic of each arm of a native run (k from the arm's density or k, over the whole model). */
export function hubTraffic(experiment: Experiment): HubTraffic[] {
  const d = modelParameters(experiment);
  const p = experiment.workers;
  return experiment.arms.map((arm) => {
    const { bytes: frameBytes } = rankMessage(arm, d);
    // Dense: the average to every rank; sparse: every rank's pairs to every rank.
    const bytesPerIteration = p === 1 ? 0 : arm.method === 'dense' ? p * frameBytes : p * p * frameBytes;
    return {
      arm: armName(arm),
      bytesPerIteration,
      secondsPerIteration: bytesPerIteration / HUB_BYTES_PER_SECOND,
      frameBytes,
    };
  });
}

/** The designer's warning for a native experiment one hub cannot carry well, or null. */
export function hubTrafficWarning(experiment: Experiment): string | null {
  if (experiment.engine !== 'native') return null;
  const traffic = hubTraffic(experiment);
  const worst = traffic.reduce((a, b) => (b.secondsPerIteration > a.secondsPerIteration ? b : a));
  const tooLarge = traffic.find((t) => t.frameBytes > HUB_FRAME_LIMIT_BYTES);
  if (tooLarge) {
    return `${tooLarge.arm}: one rank's message of ${mb(tooLarge.frameBytes)} exceeds the hub's 512 MiB frame; use engine: torch`;
  }
  if (worst.secondsPerIteration <= HUB_SECONDS_PER_ITERATION_LIMIT) return null;
  return (
    `${worst.arm}: the hub would send ${mb(worst.bytesPerIteration)} per iteration, about ` +
    `${(1000 * worst.secondsPerIteration).toFixed(0)} ms at the ${mb(HUB_BYTES_PER_SECOND)}/s measured here; ` +
    'engine: torch exchanges gradients between the ranks instead (gloo, or NCCL on GPUs)'
  );
}

function mb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** How arms and runs are named on screen: the same in the form, legends, tables and exports. */
import { SPARSIFIER_LABELS, type SparsifierMethod } from '../../../common/sparsifier';

/** The arm with its method as people write it: "topk@0.001" is "Top_k@0.001", "dense" is "Dense"; custom names stay. */
export function armLabel(arm: string, method: string | undefined): string {
  const label = method === undefined ? undefined : SPARSIFIER_LABELS[method as SparsifierMethod];
  return label && method && (arm === method || arm.startsWith(`${method}@`)) ? label + arm.slice(method.length) : arm;
}

/** A stored run's name: the one the user gave it, else its arm and seed. */
export function runName(
  run: { arm: string; seed: number; armConfig: { method: string } },
  name: string | null | undefined,
): string {
  return name || `${armLabel(run.arm, run.armConfig.method)} seed ${run.seed}`;
}

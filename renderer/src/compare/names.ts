/** How arms and runs are named on screen: the same in the form, legends, tables and exports. */
import { SPARSIFIER_LABELS, type SparsifierMethod } from '../../../common/sparsifier';

/** The arm with its method as people write it: "topk@0.001" is "Top_k@0.001", "dense" is "Dense"; custom names stay. */
export function armLabel(arm: string, method: string | undefined): string {
  const label = method === undefined ? undefined : SPARSIFIER_LABELS[method as SparsifierMethod];
  return label && method && (arm === method || arm.startsWith(`${method}@`)) ? label + arm.slice(method.length) : arm;
}

/** A run's name where the user gave it one, else its arm (and seed where asked). */
export function runName(
  run: { name?: string | null; arm: string; method?: string; seed: number },
  withSeed = true,
): string {
  if (run.name) return run.name;
  const arm = armLabel(run.arm, run.method);
  return withSeed ? `${arm} seed ${run.seed}` : arm;
}

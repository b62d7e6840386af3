/** The sweep helper: methods x densities (x seeds) expanded into arms and seeds. Pure. */
import type { ArmForm } from './form';

export interface Sweep {
  methods: string[];
  /** Densities, "0.01, 0.001". */
  densities: string;
  /** Seeds, "1, 2, 3"; empty keeps the experiment's. */
  seeds: string;
  errorFeedback: boolean;
}

export interface SweepResult {
  arms: ArmForm[];
  /** Seeds to set ("1, 2, 3"), or null to keep the experiment's. */
  seeds: string | null;
  /** What is wrong with the sweep, by field; arms are empty while there is a problem. */
  problems: Partial<Record<keyof Sweep, string>>;
}

function numbers(text: string): number[] | null {
  const parts = text
    .trim()
    .replace(/^\[|\]$/g, '')
    .split(/[\s,]+/)
    .filter((p) => p !== '');
  const values = parts.map(Number);
  return values.every((v) => Number.isFinite(v)) ? values : null;
}

/**
 * One arm per (method, density); Dense has no density, so it gets one arm whatever the densities. Seeds
 * multiply runs, not arms: each arm runs once per seed.
 */
export function expandSweep(sweep: Sweep): SweepResult {
  const problems: SweepResult['problems'] = {};
  const sparse = sweep.methods.filter((m) => m !== 'dense');
  const densities = numbers(sweep.densities);
  if (sweep.methods.length === 0) problems.methods = 'choose at least one method';
  if (densities === null) problems.densities = 'must be numbers separated by commas';
  else if (sparse.length > 0 && densities.length === 0) problems.densities = 'give at least one density';
  else if (densities.some((d) => d <= 0 || d > 1)) problems.densities = 'each density must be in (0, 1]';
  const seeds = numbers(sweep.seeds);
  if (seeds === null || seeds.some((s) => !Number.isInteger(s) || s < 0))
    problems.seeds = 'must be whole numbers (0 or more) separated by commas';
  if (Object.keys(problems).length > 0) return { arms: [], seeds: null, problems };

  const arms: ArmForm[] = [];
  for (const method of sweep.methods) {
    if (method === 'dense') {
      arms.push({ method, amountKind: 'density', amount: '', errorFeedback: true, name: '', sampleRatio: '' });
      continue;
    }
    for (const density of densities ?? []) {
      arms.push({
        method,
        amountKind: 'density',
        amount: String(density),
        errorFeedback: sweep.errorFeedback,
        name: '',
        sampleRatio: '',
      });
    }
  }
  const uniqueSeeds = [...new Set(seeds ?? [])];
  return { arms, seeds: uniqueSeeds.length > 0 ? uniqueSeeds.join(', ') : null, problems };
}

/** Runs a sweep launches: arms x seeds. */
export function sweepRunCount(result: SweepResult, currentSeeds: number): number {
  const seeds = result.seeds === null ? currentSeeds : result.seeds.split(',').length;
  return result.arms.length * seeds;
}

import type { TrainingOverhead } from '../../../common/bench';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLocally } from '../cli/run';
import { activeOverheadOf, overheadOf } from '../runtime/comparison';
import { loadExperiment } from '../experiments/load';

/** Trains an experiment briefly on local workers in a scratch store and reports where each iteration's time goes. */
export async function benchTraining(file: string, epochs?: number): Promise<TrainingOverhead> {
  const experiment = loadExperiment(file, epochs === undefined ? [] : [`epochs=${epochs}`]);
  const dataDir = mkdtempSync(join(tmpdir(), 'sparselab-bench-training-'));
  try {
    const rows = await runLocally(experiment, { dataDir, backend: 'cpu', progress: false });
    return {
      experiment: experiment.name,
      workers: experiment.workers,
      epochs: experiment.epochs,
      arms: rows.map(({ summary: s }) => ({
        arm: s.arm,
        iterationMs: s.meanIterationMs,
        computeMs: s.meanComputeMs,
        compressMs: s.meanCompressMs,
        exchangeMs: s.meanExchangeMs,
        updateMs: s.meanUpdateMs,
        cpuWaitMs: s.meanCpuWaitMs,
        overhead: overheadOf(s),
        activeOverhead: activeOverheadOf(s),
      })),
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

import { readFileSync } from 'node:fs';
import type { Experiment } from '../../../common/experiment';
import { ExperimentFileError, parseExperiment } from '../../../common/experimentFile';

/** Reads and validates an experiment file; a missing file is an ExperimentFileError like any other. */
export function loadExperiment(file: string, overrides: readonly string[] = []): Experiment {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ExperimentFileError(file, [
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message,
    ]);
  }
  return parseExperiment(text, file, overrides);
}

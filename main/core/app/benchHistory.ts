import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchRecord } from '../../../common/api';
import type { BenchResults } from '../../../common/bench';
import { packageRoot } from '../packageRoot';

/** The bench results recorded in this installation (bench/results), newest first; unreadable files are reported. */
export function recordedBench(warn: (message: string) => void): BenchRecord[] {
  const folder = join(packageRoot(), 'bench', 'results');
  let files: string[] = [];
  try {
    files = readdirSync(folder).filter((f) => f.endsWith('.json'));
  } catch {
    // No recorded results in this installation.
  }
  const recorded: BenchRecord[] = [];
  for (const file of files.sort().reverse()) {
    try {
      const results = JSON.parse(readFileSync(join(folder, file), 'utf8')) as BenchResults;
      if (typeof results !== 'object' || !results || !Array.isArray(results.operators)) continue;
      recorded.push({ source: `bench/results/${file}`, results });
    } catch (error) {
      warn(`bench/results/${file} is not readable: ${(error as Error).message}`);
    }
  }
  return recorded;
}

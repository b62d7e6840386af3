/** Words for the designer's estimate. */
import type { ArmProjection } from '../../../common/api';

function bytesText(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toPrecision(3)} kB`;
  return `${(bytes / 1e6).toPrecision(3)} MB`;
}

/** Each arm's projected iteration, e.g. "dense 0.69 ms (27.7 kB sent), topk@0.05 6.06 ms (2.77 kB sent)". */
export function armProjectionsText(arms: readonly ArmProjection[]): string {
  return arms
    .map((a) => `${a.arm} ${a.iterationMs.toPrecision(3)} ms (${bytesText(a.bytesPerIteration)} sent)`)
    .join(', ');
}

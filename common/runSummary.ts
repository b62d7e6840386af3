/** What a run's evaluations say about it: its final and best metric, and when it reached a target. */
import type { EvaluationRecord } from './records';
import type { RunSummary, TargetResult } from './runs';

export type EvaluationOutcome = Pick<
  RunSummary,
  'finalTestLoss' | 'finalAccuracy' | 'finalPerplexity' | 'bestAccuracy' | 'bestPerplexity' | 'target'
>;

/**
 * From a run's evaluations, by iteration. Accuracy targets are reached at >=, perplexity targets (runs whose
 * evaluations have no accuracy) at <=; `target` is null without a target value or without evaluations.
 */
export function evaluationOutcome(evaluations: readonly EvaluationRecord[], targetValue?: number): EvaluationOutcome {
  const last = evaluations[evaluations.length - 1];
  const accuracies = evaluations.filter((e) => e.accuracy !== undefined && !Number.isNaN(e.accuracy));
  const perplexities = evaluations.filter((e) => e.perplexity !== undefined && !Number.isNaN(e.perplexity));
  let target: TargetResult | null = null;
  if (targetValue !== undefined && (accuracies.length > 0 || perplexities.length > 0)) {
    const metric = accuracies.length > 0 ? 'accuracy' : 'perplexity';
    const hit =
      metric === 'accuracy'
        ? accuracies.find((e) => e.accuracy! >= targetValue)
        : perplexities.find((e) => e.perplexity! <= targetValue);
    target = {
      metric,
      value: targetValue,
      reached: hit !== undefined,
      wallMs: hit?.wallMs ?? null,
      iteration: hit?.iteration ?? null,
      epoch: hit?.epoch ?? null,
    };
  }
  return {
    finalTestLoss: last?.testLoss ?? null,
    finalAccuracy: last?.accuracy ?? null,
    finalPerplexity: last?.perplexity ?? null,
    bestAccuracy: accuracies.length ? Math.max(...accuracies.map((e) => e.accuracy!)) : null,
    bestPerplexity: perplexities.length ? Math.min(...perplexities.map((e) => e.perplexity!)) : null,
    target,
  };
}

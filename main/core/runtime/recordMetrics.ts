import type { MetricsBatch } from '../../../common/protocol';
import type { Store } from '../store';

/** Appends a batch of records to the store (buffered; see Store). */
export function appendMetrics(store: Store, batch: MetricsBatch): void {
  switch (batch.kind) {
    case 'iteration':
      batch.records.forEach((r) => store.appendIteration(r));
      break;
    case 'evaluation':
      batch.records.forEach((r) => store.appendEvaluation(r));
      break;
    case 'layerStats':
      batch.records.forEach((r) => store.appendLayerStats(r));
      break;
    case 'histogram':
      batch.records.forEach((r) => store.appendHistogram(r));
      break;
  }
}

import type { MetricsBatch } from '../../../common/protocol';
import type { Store } from '../store';

/** Appends a batch of records to the store (buffered; see Store). */
export function appendMetrics(store: Store, batch: MetricsBatch): void {
  for (const record of batch.records) store.append(batch.kind, record);
}

/** What the hub shows its host (the core): its events and snapshots of its workers and groups. */
import type { ConnectedWorker } from '../../../common/api';
import type { LogRecord } from '../../../common/metrics';
import type { CheckpointMessage, MetricsBatch, StatusMessage } from '../../../common/protocol';

/** A worker as the registry knows it (a snapshot). */
export interface WorkerInfo extends ConnectedWorker {
  /** Epoch milliseconds of its last sign of life (a message, bytes arriving, bytes it took). */
  lastSeen: number;
}

export interface GroupInfo {
  runId: string;
  /** Worker of each rank. */
  workerIds: string[];
  worldSize: number;
  /** Why the group failed, or null while it works. */
  failure: string | null;
  openRounds: number;
  /** Ranks that have not contributed to the oldest open round: those the others wait for. */
  awaitedRanks: number[];
  bufferedBytes: number;
}

export interface AssignOptions {
  /** Resume from the checkpoint taken after this iteration. */
  resume?: { iteration: number };
  /** The checkpoint, sent as the assign's payload: the same bytes for every rank, or chosen per rank. */
  checkpoint?: Uint8Array | ((rank: number) => Uint8Array | null | undefined);
}

export interface HubEvents {
  workerJoined: [worker: WorkerInfo];
  workerLost: [worker: WorkerInfo, reason: string];
  metrics: [batch: MetricsBatch, worker: WorkerInfo];
  log: [record: LogRecord, worker: WorkerInfo];
  status: [message: StatusMessage, worker: WorkerInfo];
  /** The payload is the received bytes (a view, not copied where it came in one fragment); it is not reused. */
  checkpoint: [message: CheckpointMessage, payload: Uint8Array, worker: WorkerInfo];
  /** A run's group failed (a rank lost or a rule broken): its collectives fail until the group is ended. */
  groupFailed: [runId: string, reason: string];
  /** A collective from a worker outside the run's group, refused (the scheduler judges and logs it). */
  collectiveRefused: [runId: string, worker: WorkerInfo];
}

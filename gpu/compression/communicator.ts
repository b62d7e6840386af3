import type { SparsifierMethod } from '../../common/sparsifier';
import { OPERATORS } from '../operators';
import type { Compressed } from './compressor';
import { concatenate } from './concatenate';
import { accumulatePacked, packSparse } from './packing';

/** The collectives of one run that a communicator runs over; today the hub client (gpu/worker/hubClient.ts). */
export interface CollectiveTransport {
  /** Every rank's bytes, in rank order (this rank's own included). */
  allgather(payload: Uint8Array): Promise<readonly Uint8Array[]>;
  /** The element-wise float32 sum over ranks, summed in rank order so every rank gets the same bits. */
  allreduce(data: Float32Array): Promise<Float32Array>;
}

/**
 * GRACE's communicator: sends this rank's compressed tensors (only those cross the wire; what
 * compression keeps locally, the residual, stays) and leaves the sum over ranks, per tensor.
 */
export interface Communicator {
  /**
   * Exchanges one iteration's compressed tensors; `sums` (one per tensor, all zero on entry) then
   * hold each tensor's sum over ranks, added in rank order so every rank holds the same bits.
   */
  exchange(compressed: readonly Compressed[], sums: readonly Float32Array[]): Promise<void>;
}

/** Selections differ between ranks: each rank gathers every rank's (indices, values) and adds them up itself. */
export class AllgatherCommunicator implements Communicator {
  constructor(private readonly transport: CollectiveTransport) {}

  async exchange(compressed: readonly Compressed[], sums: readonly Float32Array[]): Promise<void> {
    checkTensors(compressed, sums);
    const parts = await this.transport.allgather(packSparse(compressed));
    parts.forEach((part, rank) => accumulatePacked(part, sums, `rank ${rank}`));
  }
}

/** Dense vectors line up coordinate for coordinate: one allreduce of them all, concatenated. */
export class AllreduceCommunicator implements Communicator {
  constructor(private readonly transport: CollectiveTransport) {}

  async exchange(compressed: readonly Compressed[], sums: readonly Float32Array[]): Promise<void> {
    checkTensors(compressed, sums);
    const vectors = compressed.map((c, i) => {
      if (c.kind !== 'dense') throw new Error(`tensor ${i} is a selection; allreduce sums dense vectors only`);
      return c.values;
    });
    const sum = await this.transport.allreduce(concatenate(vectors));
    let at = 0;
    for (const target of sums) {
      target.set(sum.subarray(at, at + target.length));
      at += target.length;
    }
  }
}

/** The communicator the method's operator declares: allreduce for Dense, allgather for selections. */
export function createCommunicator(method: SparsifierMethod, transport: CollectiveTransport): Communicator {
  return OPERATORS[method].exchange === 'allreduce'
    ? new AllreduceCommunicator(transport)
    : new AllgatherCommunicator(transport);
}

function checkTensors(compressed: readonly Compressed[], sums: readonly Float32Array[]): void {
  if (compressed.length !== sums.length)
    throw new Error(`${compressed.length} compressed tensors for ${sums.length} sums`);
  compressed.forEach((c, i) => {
    const length = c.kind === 'dense' ? c.values.length : c.length;
    if (length !== sums[i]!.length)
      throw new Error(`tensor ${i} has ${length} coordinates, its sum ${sums[i]!.length}`);
  });
}

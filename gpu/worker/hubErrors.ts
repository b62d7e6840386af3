/** How a worker's connection to the hub fails, for its callers to tell apart. */
import type { CollectiveOp } from '../../common/protocol';

/** The hub refused this worker (wrong token, protocol version, a bad frame, silence). */
export class HubRefusedError extends Error {
  override readonly name = 'HubRefusedError';
  constructor(
    readonly reason: string,
    /** The close code (CLOSE_CODES) the hub gave. */
    readonly code: number,
  ) {
    super(`hub refused the connection: ${reason}`);
  }
}

/** The connection to the hub is gone (or never came up). */
export class HubConnectionError extends Error {
  override readonly name = 'HubConnectionError';
}

/** A collective that will not complete: the hub failed it (a rank lost, a rule broken) or the connection went. */
export class CollectiveError extends Error {
  override readonly name = 'CollectiveError';
  constructor(
    message: string,
    readonly runId: string,
    readonly op: CollectiveOp,
    readonly round: number,
  ) {
    super(message);
  }
}

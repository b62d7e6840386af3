/** Base class of the store's own errors; `code` is stable for callers (CLI exit codes, app messages). */
export class StoreError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

export class UnknownRunError extends StoreError {
  constructor(readonly runId: string) {
    super(`unknown run "${runId}"`, 'UNKNOWN_RUN');
    this.name = 'UnknownRunError';
  }
}

export class UnknownExperimentError extends StoreError {
  constructor(readonly experimentId: string) {
    super(`unknown experiment "${experimentId}"`, 'UNKNOWN_EXPERIMENT');
    this.name = 'UnknownExperimentError';
  }
}

/** The file at the database path cannot be used: not SQLite, corrupt, someone else's, from a newer SparseLab. */
export class StoreOpenError extends StoreError {
  constructor(
    readonly path: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot open the SparseLab database ${path}: ${problem}`, 'STORE_OPEN', options);
    this.name = 'StoreOpenError';
  }
}

export class InvalidTransitionError extends StoreError {
  constructor(runId: string, from: string, to: string) {
    super(`run "${runId}" cannot go from ${from} to ${to}`, 'INVALID_TRANSITION');
    this.name = 'InvalidTransitionError';
  }
}

export class StoreClosedError extends StoreError {
  constructor(path: string) {
    super(`the SparseLab database ${path} is closed`, 'STORE_CLOSED');
    this.name = 'StoreClosedError';
  }
}

/** A record handed to an append method that the database would refuse (the whole batch would fail). */
export class InvalidRecordError extends StoreError {
  constructor(kind: string, problem: string) {
    super(`invalid ${kind} record: ${problem}`, 'INVALID_RECORD');
    this.name = 'InvalidRecordError';
  }
}

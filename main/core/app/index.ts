export { AppCore, validateExperiment, type AppCoreOptions, type CallReply, type LogLevel } from './appCore';
export { Drafts, DRAFTS_FILE } from './drafts';
export { estimateExperiment, iterationsPerEpoch, TRAIN_SIZES } from './estimate';
export { runSeries } from './series';
export { WorkerPool } from './workerPool';

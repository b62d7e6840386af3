export * from './device';
export * from './pipelineCache';
export * from './bufferPool';

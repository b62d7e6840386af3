export {
  AllgatherCommunicator,
  AllreduceCommunicator,
  createCommunicator,
  type CollectiveTransport,
  type Communicator,
} from './communicator';
export { Compressor, compressAll, type Compressed, type CompressOptions, type CompressResult } from './compressor';
export { concatenate } from './concatenate';
export { NonFiniteGradientError } from './errors';
export { ModelCompression, type CompressorPlacement, type TensorGradients, type TensorShape } from './modelCompression';
export { ResidualMemory } from './residualMemory';
export { measureCompression, type StatisticsOptions } from './statistics';

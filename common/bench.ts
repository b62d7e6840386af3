/** The engine benchmark's options and results: produced by `sparselab bench` and the app, plotted by the renderer. */
import { SPARSIFIER_METHODS, type SparsifierMethod } from './sparsifier';

export type BackendName = 'cpu' | 'webgpu';

export type SparseMethod = Exclude<SparsifierMethod, 'dense'>;
export const SPARSE_METHODS = SPARSIFIER_METHODS.filter((m): m is SparseMethod => m !== 'dense');

export interface MachineDescription {
  hostname: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  node: string;
  date: string;
}

export interface PeerTiming {
  name: string;
  /** null for a read pass, which has no density. */
  density: number | null;
  ms: number;
}

export interface TrainingOverhead {
  experiment: string;
  workers: number;
  epochs: number;
  arms: {
    arm: string;
    iterationMs: number | null;
    computeMs: number | null;
    compressMs: number | null;
    exchangeMs: number | null;
    updateMs: number | null;
    /** Of compress + exchange + update, waiting for a CPU held by another process (null where not measured). */
    cpuWaitMs: number | null;
    /** (compress + exchange - waiting for other ranks + update) / iteration. */
    overhead: number | null;
    /** The same with every wait left out (for a CPU, and for slower ranks): what the framework itself adds. */
    activeOverhead: number | null;
  }[];
}

export interface BenchOptions {
  sizes: number[];
  densities: number[];
  backends: BackendName[];
  methods: SparseMethod[];
  repeats: number;
  /** torch / numpy / tf.js peers, timed on the same data (slow at large d). */
  peers: boolean;
  /** tf.topk is slow and memory-hungry; it runs only up to this d. */
  tfjsMaxSize: number;
  /** Leave out a software WebGPU adapter (SwiftShader), which times the CPU, not a GPU. */
  skipSoftwareAdapters?: boolean;
}

export interface OperatorTiming {
  d: number;
  density: number;
  backend: BackendName;
  method: SparseMethod;
  /** Median wall time of the finiteness check plus the selection, copied to the host, as the compressor runs them. */
  ms: number;
  /** ms divided by the same backend's read pass on the same data. */
  readPasses: number;
  selected: number;
  /** Host read-backs per call (WebGPU: each a mapAsync), counted by the backend. */
  readbacks?: number;
  /** Mean GPU time per call from timestamp queries, where the adapter offers them. */
  gpuMs?: number | null;
}

export interface BenchResults {
  machine: MachineDescription;
  devices: Partial<Record<BackendName, string>>;
  options: BenchOptions;
  readPass: { d: number; backend: BackendName; ms: number }[];
  operators: OperatorTiming[];
  peers: (PeerTiming & { d: number })[];
  peerVersions: Record<string, string | number>;
  notes: string[];
  /** Where a short training run's iteration time goes, per arm. */
  training?: TrainingOverhead;
}

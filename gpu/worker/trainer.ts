/**
 * One rank of one run: data-parallel SGD with a compressor per tensor (or for the flattened
 * model) and error feedback. Each iteration: forward/backward, compress, exchange (allgather of
 * sparse selections, or allreduce for Dense), average, momentum step. Every rank applies the same
 * average in the same order, so replicas stay identical.
 */
import { densityAt, type RunSpec } from '../../common/experiment';
import type { EvaluationRecord, HistogramRecord, IterationRecord, LayerStatsRecord } from '../../common/metrics';
import { learningRateAt } from '../../common/schedule';
import { sparsifierConfigSchema } from '../../common/sparsifier';
import type { CompressionStats } from '../../common/stats';
import {
  concatenate,
  createCommunicator,
  ModelCompression,
  type CompressResult,
  type TensorGradients,
} from '../compression';
import type { Kernels } from '../kernels/kernels';
import { randomKey } from '../kernels/random/random';
import { threadClock } from './cpuWait';
import { encodeRankCheckpoint, unbundleCheckpoint, weightsChecksum } from '../../common/checkpoint';
import { batches, batchesPerEpoch, loadDataset, type Batch, type Dataset, type Split } from './data';
import type { HubClient } from './hubClient';
import { buildModel, type TrainableModel } from './models';
import { MomentumSgd, splitInto } from './optimizer';

export interface RankAssignment {
  runId: string;
  rank: number;
  worldSize: number;
  spec: RunSpec;
  /** The bundled checkpoint to resume from, if any. */
  checkpoint: Uint8Array | null;
}

export interface TrainerHooks {
  /** True once the run was cancelled; checked between iterations. */
  cancelled(): boolean;
  /**
   * Rank 0, at the histogram iterations: u = g + e of every compressor, exactly as compressed,
   * for researchers who analyse it elsewhere (the worker's --dump-dir).
   */
  dumpGradient?(iteration: number, tensor: string, u: Float32Array): void;
}

/** The longest the training loop keeps the event loop from reading the hub's messages. */
const TURN_EVERY_MS = 50;
/** Records are sent in batches of this many iterations to keep messages few. */
const RECORDS_PER_MESSAGE = 10;

/**
 * With kernels on the model's GPUDevice, tensors of at least this many coordinates are compressed
 * there in place; smaller ones are read back and compressed by the CPU kernels, which are faster
 * below it: on the H200 the WGSL Top_k overtook the CPU one between 1M and 4M
 * (bench/results/2026-11-28-h200-*.json), measured when each GPU compression took several
 * read-backs of ~0.2 ms. Since compressAll shares one read-back per iteration the cut-over is
 * likely lower; it is to be re-measured on that GPU (issue #15).
 */
export const DEVICE_COMPRESS_MIN_LENGTH = 1 << 21;

/**
 * Trains one rank. `kernels` compress; when they are WebGPU kernels on the model's own device
 * (kernels.wrap) and `hostKernels` are given, each tensor goes to one or the other by its size
 * (`deviceMinLength`, default DEVICE_COMPRESS_MIN_LENGTH); without `hostKernels` every tensor
 * stays on the device.
 */
export async function trainRank(
  client: HubClient,
  kernels: Kernels,
  job: RankAssignment,
  hooks: TrainerHooks,
  hostKernels?: Kernels,
  deviceMinLength = DEVICE_COMPRESS_MIN_LENGTH,
): Promise<void> {
  const { runId, rank, worldSize, spec } = job;
  const { experiment, arm, seed } = spec;
  const dataset = await loadDataset(experiment.dataset);
  const model = buildModel(experiment.model, dataset.info, seed);
  const sparsifier = sparsifierConfigSchema.parse({
    method: arm.method,
    density: arm.density,
    k: arm.k,
    errorFeedback: arm.errorFeedback,
    sampleRatio: arm.sampleRatio,
    // Each rank draws its own random selections (Rand_k, DGC sampling).
    seed: randomKey(seed, rank),
  });
  const shapes = model.trainable.map((t) => ({ name: t.name, length: t.size }));
  // Per tensor: compressed on the model's GPU device from its buffer, or on the host from an array.
  const onDevice = shapes.map(
    (s) =>
      kernels.wrap !== undefined &&
      experiment.granularity === 'layer' &&
      (hostKernels === undefined || s.length >= deviceMinLength),
  );
  const compression = ModelCompression.create(
    { host: hostKernels ?? kernels, device: { kernels, tensors: onDevice } },
    sparsifier,
    shapes,
    experiment.granularity,
  );
  const communicator = createCommunicator(sparsifier.method, {
    allgather: async (payload) => (await client.allgather(runId, payload)).parts,
    allreduce: (data) => client.allreduce(runId, data),
  });
  const optimizer = await MomentumSgd.create(
    shapes.map((s) => s.length),
    experiment.optimizer.momentum,
    experiment.optimizer.weightDecay,
  );
  const perEpoch = batchesPerEpoch(dataset.train, { rank, worldSize, seed, epoch: 0, batchSize: experiment.batchSize });
  if (perEpoch < 1)
    throw new Error(`the training set is too small for ${worldSize} ranks of batch ${experiment.batchSize}`);
  const totalIterations = Math.ceil(experiment.epochs * perEpoch);
  // The ranks' selections are summed straight into the optimizer's gradient buffer, a view per compressor.
  const sums = splitInto(optimizer.gradientSum, compression.lengths);

  let iteration = 0;
  if (job.checkpoint) iteration = restore(job.checkpoint, rank, model, optimizer, compression);
  else await broadcastInitialWeights(client, runId, rank, model);
  optimizer.setWeights(await model.getWeightsAsync());

  const pending: { iterations: IterationRecord[] } = { iterations: [] };
  const started = performance.now();
  const evaluateEvery = Math.max(1, Math.round(experiment.evaluation.everyEpochs * perEpoch));
  const histogramAt = new Set(experiment.statistics.histogramIterations);
  const cpuWait = threadClock('waitingForCpu') ?? undefined;
  let lastTurn = performance.now();

  try {
    for (let epoch = Math.floor(iteration / perEpoch); iteration < totalIterations; epoch++) {
      let position = 0;
      const skip = iteration - epoch * perEpoch;
      for (const batch of batches(dataset.train, {
        rank,
        worldSize,
        seed,
        epoch,
        batchSize: experiment.batchSize,
        augment: dataset.info.name === 'cifar10',
      })) {
        if (position++ < skip) continue;
        // A rank alone exchanges nothing through the hub, and nothing else lets the event loop run: without a
        // turn now and then a cancel (and the heartbeats) would wait for the end of the run.
        if (performance.now() - lastTurn > TURN_EVERY_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          lastTurn = performance.now();
        }
        if (iteration >= totalIterations || hooks.cancelled()) break;
        const epochNow = (iteration + 1) / perEpoch;
        const t0 = performance.now();
        const w0 = cpuWait?.();
        // Compute ends once the gradients are readable by the compressors: on the host in place in
        // the wasm backend's heap (no copy; their one copy, into the compressors' memory, is part of
        // compress), or with kernels on the model's GPUDevice as GPU buffers (never downloaded).
        const computed = await gradientsFor(model, batch, onDevice);
        const { loss } = computed;
        const t1 = performance.now();
        const w1 = cpuWait?.();
        const density = densityAt(experiment, arm, iteration / perEpoch);
        const measure = iteration % experiment.statistics.everyIterations === 0;
        const histogram = rank === 0 && histogramAt.has(iteration);
        let results: CompressResult[];
        try {
          if (histogram && hooks.dumpGradient)
            for (const { tensor, u } of await compression.compensated(computed))
              hooks.dumpGradient(iteration, tensor, u);
          results = await compression.compress(computed, {
            step: iteration,
            density,
            statistics: measure ? { histogramBins: histogram ? experiment.statistics.histogramBins : 0 } : false,
          });
        } finally {
          computed.release();
        }
        const t2 = performance.now();
        const w2 = cpuWait?.();
        const before = bytesOf(client, runId);
        // The sum over ranks, into the optimizer's buffer (its previous step left it zeroed); its pass divides it by P.
        await communicator.exchange(
          results.map((r) => r.compressed),
          sums,
        );
        const after = bytesOf(client, runId);
        const t3 = performance.now();
        const w3 = cpuWait?.();
        const lr = learningRateAt(experiment, iteration / perEpoch);
        // One pass over the master weights, then the model takes a copy.
        model.setWeights(optimizer.step(lr, 1 / worldSize));
        const t4 = performance.now();
        const w4 = cpuWait?.();

        pending.iterations.push({
          runId,
          rank,
          iteration,
          epoch: epochNow,
          loss,
          lr,
          density: density ?? 1,
          k: results.reduce((n, r) => n + r.k, 0),
          selected: results.reduce((n, r) => n + r.compressed.values.length, 0),
          bytesSent: after.bytesSent - before.bytesSent,
          bytesReceived: after.bytesReceived - before.bytesReceived,
          wallMs: t4 - started,
          computeMs: t1 - t0,
          compressMs: t2 - t1,
          exchangeMs: t3 - t2,
          waitMs: after.waitMs - before.waitMs,
          updateMs: t4 - t3,
          ...(w0 !== undefined && cpuWaits([w0, w1!, w2!, w3!, w4!], [t0, t1, t2, t3, t4])),
          ...(measure && modelStatistics(results)),
        });
        if (measure && rank === 0) sendLayerStatistics(client, runId, iteration, compression, results, histogram);
        if (pending.iterations.length >= RECORDS_PER_MESSAGE) flush(client, pending);
        iteration++;

        if (iteration % evaluateEvery === 0 || iteration === totalIterations) {
          flush(client, pending);
          const record = await evaluate(client, job, model, dataset, iteration, epochNow, performance.now() - started);
          if (rank === 0) {
            client.sendMetrics({ kind: 'evaluation', records: [record] });
            void client.log('info', `evaluation at epoch ${epochNow.toFixed(2)}: ${describeEvaluation(record)}`, runId);
          }
        }
        if (iteration % experiment.faults.checkpointEveryIterations === 0 && iteration < totalIterations) {
          flush(client, pending);
          await client.checkpoint(
            runId,
            iteration,
            await checkpointPart(rank, iteration, model, optimizer, compression),
          );
        }
      }
      if (hooks.cancelled()) break;
    }
  } finally {
    flush(client, pending);
    compression.release();
    model.dispose();
  }
}

/**
 * A step's gradients as the compressors read them: per tensor a host array (null where the tensor
 * stays on the GPU) or a buffer on the kernels' GPUDevice (null where it was read back).
 */
interface Gradients extends TensorGradients {
  loss: number;
  release(): void;
}

async function gradientsFor(model: TrainableModel, batch: Batch, onDevice: readonly boolean[]): Promise<Gradients> {
  if (onDevice.some((d) => d)) {
    const computed = await model.lossAndGradientsOnDevice(batch, onDevice);
    if (!computed) throw new Error('the compression kernels run on the GPU but the model is not on WebGPU');
    return { loss: computed.loss, host: computed.host, device: computed.buffers, release: computed.release };
  }
  const { loss, gradients, release } = await model.lossAndGradientsBorrowed(batch);
  return { loss, host: gradients, device: gradients.map(() => null), release };
}

async function broadcastInitialWeights(
  client: HubClient,
  runId: string,
  rank: number,
  model: TrainableModel,
): Promise<void> {
  // Seeded initialisation already agrees; rank 0's broadcast makes identical replicas a fact, not a hope.
  const weights = rank === 0 ? concatenate(await model.getWeightsAsync()) : null;
  const received = await client.broadcast(runId, weights ? new Uint8Array(weights.buffer) : null);
  if (rank !== 0) {
    const floats = new Float32Array(new Uint8Array(received).buffer);
    model.setWeights(
      splitInto(
        floats,
        model.trainable.map((t) => t.size),
      ),
    );
  }
}

async function checkpointPart(
  rank: number,
  iteration: number,
  model: TrainableModel,
  optimizer: MomentumSgd,
  compression: ModelCompression,
): Promise<Uint8Array> {
  const residuals = await Promise.all(compression.compressors.filter((c) => c.residual).map((c) => c.residual!.read()));
  const weights = await model.getWeightsAsync();
  const common = { rank, iteration, weightsChecksum: weightsChecksum(weights), residuals };
  return encodeRankCheckpoint(
    rank === 0 ? { ...common, weights, state: await model.getStateAsync(), momentum: optimizer.state() } : common,
  );
}

/** Restores rank 0's model and optimizer and this rank's residuals; returns the iteration to resume at. */
function restore(
  bundle: Uint8Array,
  rank: number,
  model: TrainableModel,
  optimizer: MomentumSgd,
  compression: ModelCompression,
): number {
  const parts = unbundleCheckpoint(bundle);
  const leader = parts[0]!;
  const mine = parts[rank];
  if (!mine) throw new Error(`checkpoint has ${parts.length} ranks, this is rank ${rank}`);
  if (!leader.weights || !leader.momentum || !leader.state) throw new Error('checkpoint lacks rank 0 model state');
  model.setWeights(leader.weights);
  model.setState(leader.state);
  optimizer.restore(leader.momentum);
  compression.compressors.filter((c) => c.residual).forEach((c, i) => c.residual!.restore(mine.residuals[i]!));
  return leader.iteration;
}

/**
 * Every rank evaluates its own slice of the test set at the same time and an allreduce adds the
 * sums, so evaluation takes 1/P of the time and no rank waits for another in the next exchange.
 */
async function evaluate(
  client: HubClient,
  job: RankAssignment,
  model: TrainableModel,
  dataset: Dataset,
  iteration: number,
  epoch: number,
  wallMs: number,
): Promise<EvaluationRecord> {
  const result = await model.evaluateAsync(testShard(dataset.test, job.rank, job.worldSize));
  const count = 'accuracy' in result ? result.examples : result.tokens;
  const local = Float32Array.of(result.loss * count, 'accuracy' in result ? result.accuracy * count : 0, count);
  const [lossSum, correct, total] = await client.allreduce(job.runId, local);
  const testLoss = lossSum! / total!;
  return {
    runId: job.runId,
    iteration,
    epoch,
    wallMs,
    testLoss,
    ...('accuracy' in result ? { accuracy: correct! / total! } : { perplexity: Math.exp(testLoss) }),
  };
}

/** Rank r's contiguous slice of a test split. */
function testShard(split: Split, rank: number, worldSize: number): Split {
  const from = Math.floor((split.size * rank) / worldSize);
  const to = Math.floor((split.size * (rank + 1)) / worldSize);
  if (split.kind === 'tokens') return { ...split, tokens: split.tokens.subarray(from, to), size: to - from };
  const width = split.inputs.length / split.size;
  return {
    ...split,
    inputs: split.inputs.subarray(from * width, to * width),
    labels: split.labels.subarray(from, to),
    size: to - from,
  };
}

/** Whole-model ratios from per-tensor statistics: residual and norm energies add across tensors. */
function modelStatistics(results: readonly CompressResult[]): Partial<IterationRecord> {
  const stats = results.map((r) => r.statistics).filter((s): s is CompressionStats => s !== undefined);
  if (stats.length === 0) return {};
  const energy = stats.map((s) => s.d * (s.std * s.std + s.mean * s.mean));
  const total = energy.reduce((a, b) => a + b, 0) || 1;
  const weighted = (f: (s: CompressionStats) => number) => stats.reduce((n, s, i) => n + f(s) * energy[i]!, 0) / total;
  const d = stats.reduce((n, s) => n + s.d, 0);
  const k = stats.reduce((n, s) => n + s.k, 0);
  return {
    rho: weighted((s) => s.rho),
    rhoTopk: weighted((s) => s.rhoTopk),
    boundGeneral: 1 - k / d,
    boundGaussian: (1 - k / d) ** 2,
    overlap: stats.reduce((n, s) => n + s.overlap * s.k, 0) / k,
    uNorm: Math.sqrt(energy.reduce((a, b) => a + b, 0)),
  };
}

function sendLayerStatistics(
  client: HubClient,
  runId: string,
  iteration: number,
  compression: ModelCompression,
  results: readonly CompressResult[],
  histograms: boolean,
): void {
  const layerStats: LayerStatsRecord[] = [];
  const histogramRecords: HistogramRecord[] = [];
  results.forEach((result, i) => {
    const s = result.statistics;
    if (!s) return;
    const layer = compression.compressors[i]!.tensor;
    // A layer's record is its statistics without the histogram (stored apart) and delta (derived from k/d).
    const { histogram, delta, ...statistics } = s;
    layerStats.push({ runId, iteration, layer, ...statistics });
    const { mean, std, skewness, excessKurtosis } = statistics;
    if (histograms && histogram)
      histogramRecords.push({ runId, iteration, layer, ...histogram, mean, std, skewness, excessKurtosis });
  });
  client.sendMetrics({ kind: 'layerStats', records: layerStats });
  if (histogramRecords.length > 0) client.sendMetrics({ kind: 'histogram', records: histogramRecords });
}

/**
 * Run-queue waits per phase from the CPU-wait clock read just after each phase boundary `t`. A
 * preemption between reading a boundary's time and its clock lands in the phase before, so each
 * wait is capped at its phase's length.
 */
function cpuWaits(
  w: readonly number[],
  t: readonly number[],
): Pick<IterationRecord, 'cpuWaitMs' | 'computeCpuWaitMs' | 'compressCpuWaitMs' | 'updateCpuWaitMs'> {
  const between = (from: number, to: number) => Math.min(w[to]! - w[from]!, t[to]! - t[from]!);
  return {
    computeCpuWaitMs: between(0, 1),
    compressCpuWaitMs: between(1, 2),
    cpuWaitMs: between(1, 4),
    updateCpuWaitMs: between(3, 4),
  };
}

function bytesOf(client: HubClient, runId: string): { bytesSent: number; bytesReceived: number; waitMs: number } {
  return client.bytes(runId) ?? { bytesSent: 0, bytesReceived: 0, waitMs: 0 };
}

function flush(client: HubClient, pending: { iterations: IterationRecord[] }): void {
  if (pending.iterations.length === 0) return;
  client.sendMetrics({ kind: 'iteration', records: pending.iterations });
  pending.iterations = [];
}

function describeEvaluation(record: EvaluationRecord): string {
  const metric =
    record.perplexity !== undefined
      ? `perplexity ${record.perplexity.toFixed(2)}`
      : `accuracy ${((record.accuracy ?? NaN) * 100).toFixed(2)}%`;
  return `test loss ${record.testLoss.toFixed(4)}, ${metric}`;
}

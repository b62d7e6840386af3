/** The cluster-model projection of an iteration (main/core/app/projection.ts), worked by hand. */
import { describe, expect, it } from 'vitest';
import { experimentSchema } from '../../common/experiment';
import { presetFor, projectArms, projectionBasis } from '../../main/core/app/projection';
import { syntheticExperiment } from '../experimentFixture';

const experiment = experimentSchema.parse(
  syntheticExperiment({
    workers: 4,
    batchSize: 32,
    arms: [{ method: 'dense' }, { method: 'topk', k: 100 }],
  }),
);

describe('projectArms', () => {
  it('adds compute, compression and exchange as worked by hand', () => {
    // The synthetic MLP on 32 features: d = (32*64 + 64) + (64*64 + 64) + (64*10 + 10) = 6922,
    // 6784 multiply-adds per example, 6 FLOPs each for training: 40704 x 32 examples = 1302528 FLOPs.
    const computeMs = (1_302_528 / 2e9) * 1000; // 0.651 ms at 2 GFLOP/s
    const [dense, topk] = projectArms(experiment, 2);
    // Dense: allreduce of 4d = 27688 bytes on 4 GPUs, 10 GbE: 3.6e-5 + 1.1e-10 * 27688 s.
    expect(dense).toMatchObject({ arm: 'dense', k: 6922, bytesPerIteration: 27_688, compressMs: 0 });
    expect(dense!.computeMs).toBeCloseTo(computeMs, 9);
    expect(dense!.exchangeMs).toBeCloseTo((3.6e-5 + 1.1e-10 * 27_688) * 1000, 9);
    expect(dense!.iterationMs).toBeCloseTo(0.651264 + 0.03904568, 6);
    // Top-k, k = 100: two allgathers of 4kP = 1600 bytes (1 GbE's small-message model, beta / 10),
    // and the reference's GPU top-k cost 2.19e-10 * d * log2(d) s.
    expect(topk).toMatchObject({ arm: 'topk@k=100', k: 100, bytesPerIteration: 800 });
    expect(topk!.exchangeMs).toBeCloseTo(2 * (2.7e-3 + 1.3e-9 * 1600) * 1000, 9);
    expect(topk!.compressMs).toBeCloseTo(2.19e-10 * 6922 * Math.log2(6922) * 1000, 9);
    expect(topk!.iterationMs).toBeCloseTo(0.651264 + 5.40416 + 0.0193385, 5);
  });

  it('turns a density into k over the whole model, and exchanges nothing with one worker', () => {
    const one = experimentSchema.parse(
      syntheticExperiment({ workers: 1, arms: [{ method: 'gaussiank', density: 0.01 }] }),
    );
    const [arm] = projectArms(one, 2);
    expect(arm).toMatchObject({ k: 69, exchangeMs: 0 });
    expect(projectionBasis(one, 2, 'x')).toContain('no exchange with one worker');
  });

  it('picks the preset nearest the worker count and says so', () => {
    expect(presetFor(4)!.id).toBe('4gpu-10gbe');
    expect(presetFor(6)!.workers).toBe(8);
    expect(presetFor(200)!.workers).toBe(16);
    const basis = projectionBasis(experiment, 2, 'measured by run r1');
    expect(basis).toBe(
      'projected from the cluster model, not measured: compute from 0.0407 MFLOP per example (6,922 parameters) ' +
        "at 2.00 GFLOP/s measured by run r1, compression from the reference's GPU top-k cost, exchange from the 4 GPUs, 10 GbE time model",
    );
    const vgg = experimentSchema.parse({ ...experiment, model: 'vgg16', dataset: { name: 'cifar10', path: 'x' } });
    expect(projectionBasis(vgg, 60, 'x')).toContain('compute from 1.88 GFLOP per example (14,724,042 parameters)');
    expect(projectionBasis({ ...experiment, workers: 6 }, 2, 'x')).toContain(
      '8 GPUs, 10 GbE time model (nearest to 6 workers)',
    );
  });
});

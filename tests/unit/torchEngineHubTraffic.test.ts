/** The designer's warning: a native run's hub traffic per iteration against the rate one hub carried here. */
import { describe, expect, it } from 'vitest';
import { experimentSchema, type ExperimentInput } from '../../common/experiment';
import { HUB_BYTES_PER_SECOND, hubTraffic, hubTrafficWarning, modelParameters } from '../../common/hubTraffic';
import { mnistExperiment } from '../experimentFixture';

const experiment = (input: Partial<ExperimentInput>) =>
  experimentSchema.parse(
    mnistExperiment({ arms: [{ method: 'dense' }, { method: 'topk', density: 0.001 }], ...input }),
  );

describe('hub traffic of native runs', () => {
  it('is P * 4d for Dense and P^2 * 8k for sparse methods, per iteration', () => {
    const [dense, topk] = hubTraffic(experiment({ workers: 4 }));
    expect(modelParameters({ model: 'fnn', dataset: { name: 'mnist' } })).toBe(199_210);
    expect(dense!.bytesPerIteration).toBe(4 * 4 * 199_210);
    expect(topk!.bytesPerIteration).toBe(16 * 8 * 199);
    expect(dense!.secondsPerIteration).toBeCloseTo((4 * 4 * 199_210) / HUB_BYTES_PER_SECOND, 12);
    expect(hubTraffic(experiment({ workers: 1 }))[0]!.bytesPerIteration).toBe(0);
  });

  it('warns when the hub would take more than 0.1 s per iteration and offers the torch engine', () => {
    expect(hubTrafficWarning(experiment({ workers: 4 }))).toBeNull(); // the default MNIST experiment: 3.2 MB
    const vgg = { model: 'vgg16', dataset: { name: 'cifar10', path: '/data/cifar' } } as const;
    const warning = hubTrafficWarning(experiment({ ...vgg, workers: 8 }));
    expect(warning).toMatch(/^dense: the hub would send 471\.2 MB per iteration, about 2708 ms at the 174\.0 MB\/s/);
    expect(warning).toContain('engine: torch');
    expect(hubTrafficWarning(experiment({ ...vgg, workers: 8, engine: 'torch' }))).toBeNull();
  });
});

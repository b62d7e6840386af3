import { describe, expect, it } from 'vitest';
import {
  allreduceSeconds,
  CLUSTER_PRESETS,
  gpuTopkSeconds,
  projectedSpeedup,
  projectIteration,
  sparseAllgatherSeconds,
} from '../../common/clusterModel';

const preset = (id: string) => CLUSTER_PRESETS.find((p) => p.id === id)!;

describe('cluster time model', () => {
  it('uses the reference parameters: 10 GbE allreduce and 1 GbE allgather as measured', () => {
    // ResNet-50: 25.5M parameters, 102 MB, on 16 GPUs over 10 GbE.
    expect(allreduceSeconds(preset('16gpu-10gbe'), 102e6)).toBeCloseTo(1.4e-4 + 2.0e-10 * 102e6, 12);
    // 1 GbE, P = 4, k = 1000: 16 kB messages (small model), twice.
    expect(sparseAllgatherSeconds(preset('4gpu-1gbe'), 1000)).toBeCloseTo(2 * (2.7e-3 + 1.3e-8 * 16_000), 12);
    // 1 GbE, P = 16, k = 25,000: 1.6 MB messages (large model).
    expect(sparseAllgatherSeconds(preset('16gpu-1gbe'), 25_000)).toBeCloseTo(2 * (2.1e-3 + 1.7e-8 * 1.6e6), 12);
  });

  it('derives the unmeasured pairings by the bandwidth ratio and says so', () => {
    expect(preset('8gpu-10gbe').allgather.large.beta).toBeCloseTo(8.2e-10, 20);
    expect(preset('8gpu-1gbe').allreduce.beta).toBeCloseTo(1.4e-9, 20);
    expect(preset('8gpu-10gbe').source).toMatch(/beta \/ 10/);
  });

  it('projects iteration time and the speedup of sparse arms over Dense-SGD', () => {
    const dense = {
      computeSeconds: 0.2,
      compressSeconds: 0,
      updateSeconds: 0.01,
      d: 25_000_000,
      k: 25_000_000,
      dense: true,
    };
    const gaussian = { ...dense, compressSeconds: 0.005, k: 25_000, dense: false };
    const p = preset('16gpu-1gbe');
    const projected = projectIteration(p, gaussian);
    expect(projected.totalSeconds).toBeCloseTo(0.2 + 0.005 + sparseAllgatherSeconds(p, 25_000) + 0.01, 12);
    expect(projectedSpeedup(p, gaussian, dense)).toBeCloseTo(
      (0.21 + allreduceSeconds(p, 1e8)) / projected.totalSeconds,
      12,
    );
    expect(projectedSpeedup(p, gaussian, dense)).toBeGreaterThan(1);
  });

  it("models the reference's GPU top-k cost as s d log2 d", () => {
    expect(gpuTopkSeconds(2 ** 20)).toBeCloseTo(2.19e-10 * 2 ** 20 * 20, 15);
  });
});

import { describe, expect, it } from 'vitest';
import type { RunRow } from '../../common/runs';
import {
  durationMs,
  filterRuns,
  formatDuration,
  groupByExperiment,
  queueEtaSeconds,
  runProgress,
} from '../../renderer/src/components/runs/runs';
import { ageLevel, ageText, parseWorkerCount } from '../../renderer/src/components/workers/workers';

function run(over: Partial<RunRow>): RunRow {
  return {
    id: 'r-1',
    experimentId: 'e-1',
    experimentName: 'mnist',
    arm: 'topk@0.001',
    armConfig: { method: 'topk', density: 0.001, errorFeedback: true, sampleRatio: 0.01 },
    seed: 1,
    status: 'running',
    created: 1000,
    started: 2000,
    ended: null,
    failureReason: null,
    iteration: null,
    epoch: null,
    totalIterations: null,
    ...over,
  };
}

describe('runs view helpers', () => {
  it('prefers live progress, with the ETA only while running', () => {
    const live = { epoch: 2, epochs: 8, iteration: 100, etaSeconds: 30 };
    expect(runProgress(run({}), live, 8)).toEqual({ fraction: 0.25, label: '2 / 8 epochs', etaSeconds: 30 });
    expect(runProgress(run({ status: 'waiting' }), live, 8).etaSeconds).toBeNull();
    expect(runProgress(run({ iteration: 99, epoch: 1.5, totalIterations: 400 }), undefined, 8)).toEqual({
      fraction: 0.25,
      label: '1.5 / 8 epochs',
      etaSeconds: null,
    });
    expect(runProgress(run({ status: 'finished' }), undefined, 8).fraction).toBe(1);
    expect(runProgress(run({ status: 'queued', started: null }), undefined, 8)).toEqual({
      fraction: 0,
      label: '0 / 8 epochs',
      etaSeconds: null,
    });
  });

  it('measures durations, running ones up to now', () => {
    expect(durationMs(run({}), 7000)).toBe(5000);
    expect(durationMs(run({ status: 'finished', ended: 4000 }), 7000)).toBe(2000);
    expect(durationMs(run({ started: null }), 7000)).toBeNull();
    expect(formatDuration(42_000)).toBe('42 s');
    expect(formatDuration(185_000)).toBe('3 min 05 s');
    expect(formatDuration(7_800_000)).toBe('2 h 10 min');
  });

  it('filters by experiment, status and text, and groups by experiment', () => {
    const runs = [
      run({ id: 'a' }),
      run({ id: 'b', status: 'failed', failureReason: 'rank 2 lost' }),
      run({ id: 'c', experimentId: 'e-2', experimentName: 'cifar' }),
    ];
    expect(filterRuns(runs, { experimentId: 'e-1', status: '', text: '' }).map((r) => r.id)).toEqual(['a', 'b']);
    expect(filterRuns(runs, { experimentId: '', status: 'failed', text: '' }).map((r) => r.id)).toEqual(['b']);
    expect(filterRuns(runs, { experimentId: '', status: '', text: 'RANK 2' }).map((r) => r.id)).toEqual(['b']);
    // A search matches runs, not every run of an experiment whose name matches.
    const mnist = [
      run({
        id: 'g',
        arm: 'gaussiank@0.001',
        armConfig: { method: 'gaussiank', density: 0.001, errorFeedback: true, sampleRatio: 0.01 },
      }),
      run({ id: 't' }),
      run({ id: 'd', arm: 'dense', armConfig: { method: 'dense', errorFeedback: false, sampleRatio: 0.01 } }),
    ];
    const text = (t: string, notes = {}) =>
      filterRuns(mnist, { experimentId: '', status: '', text: t }, notes).map((r) => r.id);
    expect(text('mnist gaussian')).toEqual(['g']);
    expect(text('Gaussian_k')).toEqual(['g']);
    expect(text('mnist')).toEqual(['g', 't', 'd']);
    expect(text('baseline', { d: { name: 'the baseline', notes: '', tags: [] } })).toEqual(['d']);
    expect(text('lr-sweep', { t: { name: null, notes: '', tags: ['lr-sweep'] } })).toEqual(['t']);
    const groups = groupByExperiment(runs);
    expect(groups.map((g) => [g.experimentName, g.runs.length])).toEqual([
      ['mnist', 2],
      ['cifar', 1],
    ]);
    expect(groups[0]!.counts).toEqual({ running: 1, failed: 1 });
    // Newest first from the API; oldest first (arm by arm) within an experiment.
    expect(groups[0]!.runs.map((r) => r.id)).toEqual(['b', 'a']);
  });
});

describe('queue ETA', () => {
  it("adds the running run's ETA and, per queued run, its experiment's typical duration", () => {
    const finished = run({ id: 'f', status: 'finished', started: 0, ended: 60_000 });
    const running = run({ id: 'r', status: 'running', started: 100_000 });
    const queued = run({ id: 'q', status: 'queued', started: null });
    const eta = (r: RunRow) => (r.id === 'r' ? 20 : null);
    expect(queueEtaSeconds([finished, running, queued, queued], eta, 140_000)).toEqual({
      runs: 3,
      seconds: 20 + 60 + 60,
    });
    // No finished run yet: the running one's pace (40 s so far + 20 s left) stands for the queued ones.
    expect(queueEtaSeconds([running, queued], eta, 140_000)).toEqual({ runs: 2, seconds: 20 + 60 });
    expect(queueEtaSeconds([finished], eta, 0)).toEqual({ runs: 0, seconds: null });
    expect(queueEtaSeconds([queued], eta, 0)).toEqual({ runs: 1, seconds: null });
  });
});

describe('workers view helpers', () => {
  it('words heartbeat ages and flags late ones', () => {
    expect(ageText(400)).toBe('0.4 s');
    expect(ageText(45_000)).toBe('45 s');
    expect(ageLevel(2000)).toBe('ok');
    expect(ageLevel(15_000)).toBe('late');
    expect(ageLevel(60_000)).toBe('stale');
  });

  it('checks the local worker count', () => {
    expect(parseWorkerCount(' 4 ')).toEqual({ count: 4 });
    expect(parseWorkerCount('65')).toEqual({ error: 'must be at most 64' });
    expect(parseWorkerCount('2.5')).toEqual({ error: 'must be a whole number' });
  });
});

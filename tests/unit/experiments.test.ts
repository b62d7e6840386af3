import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { armName, densityAt } from '../../common/experiment';
import { ExperimentFileError, parseExperiment } from '../../common/experimentFile';
import { loadExperiment } from '../../main/core/experiments/load';

const minimal = `
name: quick
model: synthetic
dataset: { name: synthetic }
epochs: 1
batchSize: 32
optimizer: { lr: 0.05 }
arms:
  - { method: topk, density: 0.01 }
  - { method: gaussiank, density: 0.01 }
`;

function problemsOf(text: string, overrides: string[] = []): string[] {
  try {
    parseExperiment(text, 'exp.yaml', overrides);
  } catch (error) {
    expect(error).toBeInstanceOf(ExperimentFileError);
    return (error as ExperimentFileError).problems;
  }
  throw new Error('expected the experiment to be refused');
}

describe('experiment files', () => {
  it('fills defaults and names arms', () => {
    const e = parseExperiment(minimal, 'exp.yaml');
    expect(e.workers).toBe(4);
    expect(e.optimizer.momentum).toBe(0.9);
    expect(e.arms.map(armName)).toEqual(['topk@0.01', 'gaussiank@0.01']);
    expect(e.seeds).toEqual([1]);
  });

  it('names the field, its line and the reason for each problem', () => {
    const bad = minimal.replace('density: 0.01 }', 'density: 2 }').replace('batchSize: 32', 'batchSize: -1');
    const problems = problemsOf(bad);
    expect(problems).toContain('batchSize (line 6): must be at least 1');
    expect(problems).toContain('arms.0.density (line 9): must be at most 1');
  });

  it('refuses unknown fields, impossible pairings and YAML syntax errors', () => {
    expect(problemsOf(minimal + 'epochz: 3\n')[0]).toMatch(/Unrecognized key.*epochz/);
    expect(problemsOf(minimal.replace('model: synthetic', 'model: resnet20'))).toContain(
      'dataset.name (line 4): model resnet20 trains on cifar10, not synthetic',
    );
    expect(problemsOf('name: [unclosed\n')[0]).toMatch(/^line \d+: /);
  });

  it('applies --set overrides with YAML values', () => {
    const e = parseExperiment(minimal, 'exp.yaml', ['epochs=3', 'arms.1.density=0.001', 'seeds=[1, 2]']);
    expect(e.epochs).toBe(3);
    expect(e.arms[1]!.density).toBe(0.001);
    expect(e.seeds).toEqual([1, 2]);
    expect(problemsOf(minimal, ['workers=0'])).toEqual(['workers: must be at least 1']);
    // launch would spawn one worker process per rank
    expect(problemsOf(minimal, ['workers=60000'])).toEqual([
      'workers: must be at most 256 (each rank is a worker process)',
    ]);
    expect(parseExperiment(minimal, 'exp.yaml', ['workers=256']).workers).toBe(256);
  });

  it('applies the density warm-up by epoch, then the arm density', () => {
    const e = parseExperiment(minimal + 'densityWarmup: [0.25, 0.0625]\n', 'exp.yaml');
    const arm = e.arms[0]!;
    expect([0, 1, 1.5, 2, 7].map((epoch) => densityAt(e, arm, epoch))).toEqual([0.25, 0.0625, 0.0625, 0.01, 0.01]);
  });

  it('ships default experiments that validate', () => {
    const folder = join(__dirname, '../../resources/experiments');
    const files = readdirSync(folder);
    expect(files).toContain('mnist-fnn-topk-vs-gaussiank.yaml');
    for (const file of files) expect(() => loadExperiment(join(folder, file))).not.toThrow();
  });

  it('says when the file does not exist', () => {
    expect(() => loadExperiment('/nonexistent/exp.yaml')).toThrow('/nonexistent/exp.yaml: no such file');
  });
});

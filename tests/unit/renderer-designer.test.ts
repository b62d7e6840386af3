import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  datasetChoices,
  datasetForModel,
  defaultStallSeconds,
  emptyArm,
  experimentToForm,
  formToObject,
  problemsByPath,
  validate,
} from '../../renderer/src/designer/form';
import { expandSweep, sweepRunCount } from '../../renderer/src/designer/sweep';
import { describePath, formatOf, parseText, unclosedBefore, updateText } from '../../renderer/src/designer/text';

const mnist = readFileSync('resources/experiments/mnist-fnn-topk-vs-gaussiank.yaml', 'utf8');
const cifar = readFileSync('resources/experiments/cifar10-resnet20.yaml', 'utf8');

describe('designer form <-> experiment', () => {
  it('round-trips every template without changing it', () => {
    for (const text of [mnist, cifar, readFileSync('resources/experiments/quick-synthetic.yaml', 'utf8')]) {
      const value = parse(text);
      const { value: back, problems } = formToObject(experimentToForm(value));
      expect(problems).toEqual({});
      expect(back).toEqual(value);
      expect(validate(back)).toEqual([]);
    }
  });

  it('keeps text that is not a number and names the field', () => {
    const form = experimentToForm(parse(mnist));
    form.epochs = '8x';
    form.densityWarmup = '0.1, abc';
    form.arms[1]!.amount = '2';
    const { value, problems } = formToObject(form);
    expect(value.epochs).toBe('8x');
    expect(problems).toEqual({ epochs: 'must be a number', densityWarmup: 'must be numbers separated by commas' });
    const byPath = problemsByPath(validate(value, problems));
    expect(byPath.epochs).toBe('must be a number');
    expect(byPath['arms.1.density']).toBe('must be at most 1');
  });

  it("shows the model's stall deadline when empty and writes the one typed", () => {
    const form = experimentToForm(parse(mnist));
    expect(form.stallSeconds).toBe('');
    expect(defaultStallSeconds(form.model)).toBe('120');
    expect(defaultStallSeconds('vgg16')).toBe('1800');
    form.stallSeconds = '45';
    expect((formToObject(form).value.faults as Record<string, unknown>).stallSeconds).toBe(45);
    form.stallSeconds = '0';
    expect(problemsByPath(validate(formToObject(form).value))['faults.stallSeconds']).toBe('must be greater than 0');
  });

  it('leaves empty fields out so the schema defaults apply', () => {
    const form = experimentToForm(parse(mnist));
    form.workers = '';
    form.everyEpochs = '';
    form.target = '';
    const { value } = formToObject(form);
    expect('workers' in value).toBe(false);
    expect('evaluation' in value).toBe(false);
  });

  it('writes schedules, k arms and error feedback off', () => {
    const form = experimentToForm(parse(mnist));
    form.schedule = 'step';
    form.milestones = '3, 6';
    form.gamma = '0.1';
    form.arms = [{ ...emptyArm('topk'), amountKind: 'k', amount: '100', errorFeedback: false }, emptyArm('dense')];
    const { value } = formToObject(form);
    expect((value.optimizer as Record<string, unknown>).schedule).toEqual({
      type: 'step',
      milestones: [3, 6],
      gamma: 0.1,
    });
    expect(value.arms).toEqual([{ method: 'topk', k: 100, errorFeedback: false }, { method: 'dense' }]);
    expect(validate(value)).toEqual([]);
  });

  it('reports the schema messages at the field they name', () => {
    const form = experimentToForm(parse(mnist));
    form.model = 'resnet20';
    form.name = '';
    form.arms = [];
    const byPath = problemsByPath(validate(formToObject(form).value));
    expect(byPath.name).toBe('must not be empty');
    expect(byPath['dataset.name']).toBe('model resnet20 trains on cifar10, not mnist');
    expect(byPath.arms).toBe('needs at least one arm');
  });

  it('carries keys the form does not know, so the schema can name them and nothing is lost', () => {
    const form = experimentToForm({ ...parse(mnist), epoch: 3 });
    form.lr = '0.1';
    const { value } = formToObject(form);
    expect(value.epoch).toBe(3);
    expect(validate(value).map((p) => p.message)).toEqual([expect.stringMatching(/epoch/)]);
  });

  it('offers only the datasets of the model, keeping the current one visible', () => {
    expect(datasetChoices('fnn', 'mnist')).toEqual(['mnist', 'fashion-mnist', 'synthetic']);
    expect(datasetChoices('lstm', 'mnist')).toEqual(['ptb', 'mnist']);
    expect(datasetForModel('resnet20', 'mnist')).toBe('cifar10');
    expect(datasetForModel('cnn', 'fashion-mnist')).toBe('fashion-mnist');
  });
});

describe('designer sweep', () => {
  it('expands methods x densities, with one Dense arm, and sets the seeds', () => {
    const result = expandSweep({
      methods: ['dense', 'topk', 'gaussiank'],
      densities: '0.01, 0.001',
      seeds: '1, 2, 3',
      errorFeedback: true,
    });
    expect(result.problems).toEqual({});
    expect(result.arms.map((a) => `${a.method}@${a.amount}`)).toEqual([
      'dense@',
      'topk@0.01',
      'topk@0.001',
      'gaussiank@0.01',
      'gaussiank@0.001',
    ]);
    expect(result.seeds).toBe('1, 2, 3');
    expect(sweepRunCount(result, 1)).toBe(15);
  });

  it('names what is wrong', () => {
    const result = expandSweep({ methods: ['topk'], densities: '2, x', seeds: '1.5', errorFeedback: true });
    expect(result.arms).toEqual([]);
    expect(result.problems.densities).toBe('must be numbers separated by commas');
    expect(result.problems.seeds).toMatch(/whole numbers/);
    expect(expandSweep({ methods: ['topk'], densities: '2', seeds: '', errorFeedback: true }).problems.densities).toBe(
      'each density must be in (0, 1]',
    );
  });
});

describe('designer text', () => {
  it('names the line of syntax and schema problems', () => {
    const syntax = parseText('name: a\narms: [\n');
    expect(syntax.value).toBeNull();
    expect(syntax.syntax[0]!.line).toBeGreaterThan(0);
    // An unclosed [ is reported on its own line, not where the next block starts.
    const unclosed = parseText(mnist.replace('densityWarmup: [0.015625, 0.004]', 'densityWarmup: [0.015625, 0.004'));
    const opened = mnist.split('\n').findIndex((l) => l.startsWith('densityWarmup:')) + 1;
    expect(unclosed.syntax[0]!.line).toBe(opened);
    expect(unclosed.syntax[0]!.message).toBe(`line ${opened}: this [ is never closed (with ])`);
    expect(unclosedBefore('a: [1, {b: 2}, "[" # [\nc: 1', 30)).toBe(3);
    const schema = parseText(
      mnist.replace('density: 0.001 }\n  - { method: gaussiank', 'density: 2 }\n  - { method: gaussiank'),
    );
    expect(schema.schema).toHaveLength(1);
    // Arms are numbered from 1, as the form's table numbers them.
    expect(schema.schema[0]!.message).toMatch(/^arm 2 density \(line \d+\): must be at most 1$/);
    expect(schema.schema[0]!.path).toBe('arms.1.density');
    expect(describePath('arms.0')).toBe('arm 1');
    expect(describePath('optimizer.lr')).toBe('optimizer.lr');
  });

  it('rewrites only what the form changed, keeping comments and flow style', () => {
    const form = experimentToForm(parse(mnist));
    form.epochs = '3';
    form.arms.push(emptyArm('randk'));
    form.arms[0]!.errorFeedback = true;
    const text = updateText(mnist, formToObject(form).value, 'yaml');
    expect(text).toContain("# The paper's FNN on MNIST");
    expect(text).toContain('epochs: 3\n');
    expect(text).toContain('  - { method: randk, density: 0.001 }\n');
    expect(text).toContain('densityWarmup: [0.015625, 0.004]\n');
    expect(parse(text)).toEqual(formToObject(form).value);
    const removed = experimentToForm(parse(text));
    removed.arms.splice(0, 1);
    expect(parse(updateText(text, formToObject(removed).value, 'yaml')).arms).toHaveLength(6);
  });

  it('writes JSON when asked and tells formats apart', () => {
    const value = formToObject(experimentToForm(parse(mnist))).value;
    const json = updateText(mnist, value, 'json');
    expect(JSON.parse(json)).toEqual(value);
    expect(formatOf(json)).toBe('json');
    expect(formatOf(mnist)).toBe('yaml');
    expect(formatOf('', 'x.JSON')).toBe('json');
  });
});

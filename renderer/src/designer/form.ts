/**
 * The designer's form and the experiment object it stands for, both ways. The form keeps what was typed
 * (numbers as text, lists as "a, b, c") so nothing is lost while it is invalid; an empty field means
 * "omitted" (the schema's default applies). Pure: no Vue, no API.
 */
import {
  DATASETS,
  DEFAULT_STALL_SECONDS,
  MODEL_DATASETS,
  MODELS,
  experimentSchema,
  type DatasetName,
  type ModelName,
} from '../../../common/experiment';
import { SPARSIFIER_METHODS, type SparsifierMethod } from '../../../common/sparsifier';

export interface ArmForm {
  method: SparsifierMethod | string;
  /** Whether `amount` is a density or a fixed k. */
  amountKind: 'density' | 'k';
  amount: string;
  errorFeedback: boolean;
  name: string;
  sampleRatio: string;
}

export interface ExperimentForm {
  name: string;
  description: string;
  model: string;
  dataset: string;
  datasetPath: string;
  trainLimit: string;
  testLimit: string;
  workers: string;
  /** '' = omitted (auto). */
  backend: string;
  /** '' = omitted (native). */
  engine: string;
  epochs: string;
  batchSize: string;
  lr: string;
  momentum: string;
  weightDecay: string;
  /** '' = omitted (constant). */
  schedule: string;
  milestones: string;
  gamma: string;
  minLr: string;
  warmupEpochs: string;
  densityWarmup: string;
  granularity: string;
  seeds: string;
  everyEpochs: string;
  target: string;
  statsEvery: string;
  histogramIterations: string;
  histogramBins: string;
  onWorkerLoss: string;
  checkpointEvery: string;
  waitSeconds: string;
  stallSeconds: string;
  arms: ArmForm[];
  /** Top-level keys the form does not know, carried through so they are not lost (the schema names them). */
  extra: Record<string, unknown>;
}

/** Datasets that need a folder (MNIST ships with SparseLab, synthetic is generated). */
export const DATASETS_WITH_FOLDER: readonly string[] = ['fashion-mnist', 'cifar10', 'ptb'];

export { DATASETS, MODELS, SPARSIFIER_METHODS };

export function emptyArm(method: SparsifierMethod = 'topk'): ArmForm {
  return {
    method,
    amountKind: 'density',
    amount: method === 'dense' ? '' : '0.001',
    errorFeedback: true,
    name: '',
    sampleRatio: '',
  };
}

export function emptyForm(): ExperimentForm {
  return experimentToForm({});
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ');
  return JSON.stringify(v);
}

const KNOWN_KEYS = [
  'name',
  'description',
  'model',
  'dataset',
  'workers',
  'backend',
  'engine',
  'epochs',
  'batchSize',
  'optimizer',
  'densityWarmup',
  'granularity',
  'seeds',
  'arms',
  'evaluation',
  'statistics',
  'faults',
];

/** The form showing an experiment object (whatever it holds: invalid values are kept as text). */
export function experimentToForm(value: unknown): ExperimentForm {
  const e = isObj(value) ? value : {};
  const dataset = isObj(e.dataset) ? e.dataset : { name: e.dataset };
  const opt = isObj(e.optimizer) ? e.optimizer : {};
  const schedule = isObj(opt.schedule) ? opt.schedule : {};
  const evaluation = isObj(e.evaluation) ? e.evaluation : {};
  const stats = isObj(e.statistics) ? e.statistics : {};
  const faults = isObj(e.faults) ? e.faults : {};
  const arms = Array.isArray(e.arms) ? e.arms : [];
  const extra: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(e)) if (!KNOWN_KEYS.includes(key)) extra[key] = v;
  return {
    name: str(e.name),
    description: str(e.description),
    model: str(e.model),
    dataset: str(dataset.name),
    datasetPath: str(dataset.path),
    trainLimit: str(dataset.trainLimit),
    testLimit: str(dataset.testLimit),
    workers: str(e.workers),
    backend: str(e.backend),
    engine: str(e.engine),
    epochs: str(e.epochs),
    batchSize: str(e.batchSize),
    lr: str(opt.lr),
    momentum: str(opt.momentum),
    weightDecay: str(opt.weightDecay),
    schedule: str(schedule.type),
    milestones: str(schedule.milestones),
    gamma: str(schedule.gamma),
    minLr: str(schedule.minLr),
    warmupEpochs: str(opt.warmupEpochs),
    densityWarmup: str(e.densityWarmup),
    granularity: str(e.granularity),
    seeds: str(e.seeds),
    everyEpochs: str(evaluation.everyEpochs),
    target: str(evaluation.target),
    statsEvery: str(stats.everyIterations),
    histogramIterations: str(stats.histogramIterations),
    histogramBins: str(stats.histogramBins),
    onWorkerLoss: str(faults.onWorkerLoss),
    checkpointEvery: str(faults.checkpointEveryIterations),
    waitSeconds: str(faults.waitSeconds),
    stallSeconds: str(faults.stallSeconds),
    arms: arms.map((a): ArmForm => {
      const arm = isObj(a) ? a : {};
      const hasK = arm.k !== undefined && arm.density === undefined;
      return {
        method: str(arm.method),
        amountKind: hasK ? 'k' : 'density',
        amount: str(hasK ? arm.k : arm.density),
        errorFeedback: arm.errorFeedback !== false,
        name: str(arm.name),
        sampleRatio: str(arm.sampleRatio),
      };
    }),
    extra,
  };
}

export interface FormObject {
  /** The experiment as the form describes it (schema input; may be invalid). */
  value: Obj;
  /** Problems the form itself finds before the schema (text that is not a number), by dotted path. */
  problems: Record<string, string>;
}

/** The experiment object a form describes; text that is not a number is kept as text and named in `problems`. */
export function formToObject(form: ExperimentForm): FormObject {
  const problems: Record<string, string> = {};

  function num(text: string, path: string): unknown {
    const t = text.trim();
    if (t === '') return undefined;
    const n = Number(t);
    if (!Number.isFinite(n)) {
      problems[path] = 'must be a number';
      return t;
    }
    return n;
  }

  function list(text: string, path: string): unknown {
    const t = text.trim().replace(/^\[|\]$/g, '');
    if (t.trim() === '') return text.trim() === '' ? undefined : [];
    const parts = t.split(/[\s,]+/).filter((p) => p !== '');
    const values = parts.map(Number);
    if (values.some((v) => !Number.isFinite(v))) {
      problems[path] = 'must be numbers separated by commas';
      return parts.map((p, i) => (Number.isFinite(values[i]) ? values[i] : p));
    }
    return values;
  }

  function text(t: string): string | undefined {
    return t.trim() === '' ? undefined : t;
  }

  /** Drops undefined entries; undefined when nothing is left (the section is omitted). */
  function section(o: Obj): Obj | undefined {
    const out: Obj = {};
    for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
    return Object.keys(out).length > 0 ? out : undefined;
  }

  let schedule: Obj | undefined;
  if (form.schedule === 'step') {
    schedule = {
      type: 'step',
      milestones: list(form.milestones, 'optimizer.schedule.milestones') ?? [],
      gamma: num(form.gamma, 'optimizer.schedule.gamma'),
    };
  } else if (form.schedule === 'cosine') {
    schedule = section({ type: 'cosine', minLr: num(form.minLr, 'optimizer.schedule.minLr') });
  } else if (form.schedule !== '') {
    schedule = { type: form.schedule };
  }

  const value: Obj = {
    name: form.name,
    description: text(form.description),
    model: text(form.model),
    dataset:
      section({
        name: text(form.dataset),
        path: text(form.datasetPath),
        trainLimit: num(form.trainLimit, 'dataset.trainLimit'),
        testLimit: num(form.testLimit, 'dataset.testLimit'),
      }) ?? {},
    workers: num(form.workers, 'workers'),
    backend: text(form.backend),
    engine: text(form.engine),
    epochs: num(form.epochs, 'epochs'),
    batchSize: num(form.batchSize, 'batchSize'),
    optimizer:
      section({
        lr: num(form.lr, 'optimizer.lr'),
        momentum: num(form.momentum, 'optimizer.momentum'),
        weightDecay: num(form.weightDecay, 'optimizer.weightDecay'),
        schedule,
        warmupEpochs: num(form.warmupEpochs, 'optimizer.warmupEpochs'),
      }) ?? {},
    densityWarmup: list(form.densityWarmup, 'densityWarmup'),
    granularity: text(form.granularity),
    seeds: list(form.seeds, 'seeds'),
    arms: form.arms.map((arm, i) => {
      const amount = arm.method === 'dense' && arm.amount.trim() === '' ? undefined : arm.amount;
      const out: Obj = {};
      if (arm.name.trim() !== '') out.name = arm.name;
      out.method = arm.method;
      if (amount !== undefined) out[arm.amountKind] = num(amount, `arms.${i}.${arm.amountKind}`);
      if (!arm.errorFeedback) out.errorFeedback = false;
      const ratio = num(arm.sampleRatio, `arms.${i}.sampleRatio`);
      if (ratio !== undefined) out.sampleRatio = ratio;
      return out;
    }),
    evaluation: section({
      everyEpochs: num(form.everyEpochs, 'evaluation.everyEpochs'),
      target: num(form.target, 'evaluation.target'),
    }),
    statistics: section({
      everyIterations: num(form.statsEvery, 'statistics.everyIterations'),
      histogramIterations: list(form.histogramIterations, 'statistics.histogramIterations'),
      histogramBins: num(form.histogramBins, 'statistics.histogramBins'),
    }),
    faults: section({
      onWorkerLoss: text(form.onWorkerLoss),
      checkpointEveryIterations: num(form.checkpointEvery, 'faults.checkpointEveryIterations'),
      waitSeconds: num(form.waitSeconds, 'faults.waitSeconds'),
      stallSeconds: num(form.stallSeconds, 'faults.stallSeconds'),
    }),
    ...form.extra,
  };
  for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
  return { value, problems };
}

export interface Problem {
  /** Dotted path of the field ('' for the top level). */
  path: string;
  message: string;
}

/** The schema's problems with an experiment object, by dotted path (the first message per path wins). */
export function validate(value: unknown, formProblems: Record<string, string> = {}): Problem[] {
  const problems: Problem[] = Object.entries(formProblems).map(([path, message]) => ({ path, message }));
  const seen = new Set(problems.map((p) => p.path));
  const result = experimentSchema.safeParse(value);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.map(String).join('.');
      if (seen.has(path)) continue;
      seen.add(path);
      problems.push({ path, message: issue.message });
    }
  }
  return problems;
}

/** Problems keyed by path, for the form's fields. */
export function problemsByPath(problems: readonly Problem[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of problems) out[p.path] ??= p.message;
  return out;
}

/** The progress deadline a model gets when the form leaves it empty. */
export function defaultStallSeconds(model: string): string {
  return (MODELS as readonly string[]).includes(model) ? String(DEFAULT_STALL_SECONDS[model as ModelName]) : '';
}

/** Datasets the model trains on; the current one stays listed (marked invalid by the schema) so it is not lost. */
export function datasetChoices(model: string, current: string): string[] {
  const valid = (MODEL_DATASETS as Record<string, readonly string[]>)[model] ?? DATASETS;
  return current !== '' && !valid.includes(current) ? [...valid, current] : [...valid];
}

/** After the model changed: keep the dataset if the model trains on it, else its first dataset. */
export function datasetForModel(model: string, dataset: string): string {
  const valid = (MODEL_DATASETS as Record<string, readonly string[] | undefined>)[model];
  if (!valid || valid.includes(dataset as DatasetName)) return dataset;
  return valid[0] ?? dataset;
}

export function needsFolder(dataset: string): boolean {
  return DATASETS_WITH_FOLDER.includes(dataset);
}

export function isModel(name: string): name is ModelName {
  return (MODELS as readonly string[]).includes(name);
}

/**
 * The shapes of the networks (gpu/worker/models/architectures.ts builds them from these constants) and
 * what they cost: trainable parameters and multiply-adds per example, counted from the shapes alone so
 * that the app can project a run's compute time before any run exists. Batch norm, pooling, activations
 * and the loss are left out of the multiply-adds: they are a few operations per activation against
 * hundreds per weight.
 */
import type { DatasetName, Experiment, ModelName } from './experiment';

/** Hidden width of the two-hidden-layer perceptrons. */
export const MLP_WIDTH = { fnn: 200, synthetic: 64 } as const;
/** LeNet: conv 5x5 (valid) of 20 then 50 filters, each followed by a 2x2 max-pool, fc of 500. */
export const LENET = { kernel: 5, filters: [20, 50], hidden: 500 } as const;
/** ResNet-20: three stages of three basic blocks at these widths; stages 2 and 3 start with stride 2. */
export const RESNET20_WIDTHS = [16, 32, 64] as const;
export const RESNET20_BLOCKS_PER_STAGE = 3;
/** VGG-16 for CIFAR-10: 3x3 convolutions of these widths, 'M' a 2x2 max-pool. */
export const VGG16_CONFIG: readonly (number | 'M')[] = [
  ...[64, 64, 'M', 128, 128, 'M'],
  ...[256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
] as const;
export interface LstmShape {
  embeddingSize: number;
  hiddenSize: number;
  layers: number;
}
export const LSTM_DEFAULTS: Readonly<LstmShape> = { embeddingSize: 200, hiddenSize: 200, layers: 2 };

/** One example's input shape (NHWC without the batch axis; [] for a token) and the number of classes. */
export interface DatasetShape {
  inputShape: readonly number[];
  numClasses: number;
}

/** As the loaders in gpu/worker/data report them; PTB at its full vocabulary (MAX_PTB_VOCABULARY). */
export const DATASET_SHAPES: Record<DatasetName, DatasetShape> = {
  mnist: { inputShape: [28, 28, 1], numClasses: 10 },
  'fashion-mnist': { inputShape: [28, 28, 1], numClasses: 10 },
  cifar10: { inputShape: [32, 32, 3], numClasses: 10 },
  ptb: { inputShape: [], numClasses: 10_000 },
  synthetic: { inputShape: [32], numClasses: 10 },
};

export interface ModelCost {
  /** Trainable parameters (d). */
  parameters: number;
  /** Multiply-adds of one forward pass per example (per token for the language model). */
  forwardMacs: number;
}

/** FLOPs of one training step per example: forward plus a backward of twice its cost, two FLOPs per multiply-add. */
export function trainingFlopsPerExample(cost: ModelCost): number {
  return 3 * 2 * cost.forwardMacs;
}

/** Sums the parameters and multiply-adds of layers as they are added. */
class Tally {
  parameters = 0;
  forwardMacs = 0;

  dense(inputs: number, units: number): number {
    this.parameters += inputs * units + units;
    this.forwardMacs += inputs * units;
    return units;
  }

  /** A square convolution over a height x width output; returns the output channels. */
  conv(outputPixels: number, kernel: number, channelsIn: number, filters: number, bias: boolean): number {
    this.parameters += kernel * kernel * channelsIn * filters + (bias ? filters : 0);
    this.forwardMacs += outputPixels * kernel * kernel * channelsIn * filters;
    return filters;
  }

  /** Batch norm's trainable gamma and beta (its moving averages are state, not parameters). */
  batchNorm(channels: number): void {
    this.parameters += 2 * channels;
  }
}

function imageShape(shape: DatasetShape): [number, number, number] {
  const [h, w, c] = shape.inputShape;
  if (h === undefined || w === undefined || c === undefined) {
    throw new Error(`an image model needs an input of height x width x channels, not [${shape.inputShape.join(', ')}]`);
  }
  return [h, w, c];
}

function lenet(t: Tally, shape: DatasetShape): void {
  let [h, w, c] = imageShape(shape);
  for (const filters of LENET.filters) {
    h -= LENET.kernel - 1;
    w -= LENET.kernel - 1;
    c = t.conv(h * w, LENET.kernel, c, filters, true);
    h = Math.floor(h / 2);
    w = Math.floor(w / 2);
  }
  t.dense(t.dense(h * w * c, LENET.hidden), shape.numClasses);
}

function resnet20(t: Tally, shape: DatasetShape): void {
  let [h, w, c] = imageShape(shape);
  c = t.conv(h * w, 3, c, RESNET20_WIDTHS[0], false);
  t.batchNorm(c);
  RESNET20_WIDTHS.forEach((width, stage) => {
    for (let block = 0; block < RESNET20_BLOCKS_PER_STAGE; block++) {
      if (stage > 0 && block === 0) {
        h = Math.ceil(h / 2);
        w = Math.ceil(w / 2);
      }
      c = t.conv(h * w, 3, c, width, false);
      t.batchNorm(width);
      t.conv(h * w, 3, width, width, false);
      t.batchNorm(width);
    }
  });
  t.dense(c, shape.numClasses);
}

function vgg16(t: Tally, shape: DatasetShape): void {
  let [h, w, c] = imageShape(shape);
  for (const item of VGG16_CONFIG) {
    if (item === 'M') {
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
    } else {
      c = t.conv(h * w, 3, c, item, false);
      t.batchNorm(c);
    }
  }
  t.dense(h * w * c, shape.numClasses);
}

function lstm(t: Tally, vocabulary: number, options: Partial<LstmShape>): void {
  const { embeddingSize, hiddenSize, layers } = { ...LSTM_DEFAULTS, ...options };
  t.parameters += vocabulary * embeddingSize; // a lookup: no multiply-adds
  let inputs: number = embeddingSize;
  for (let l = 0; l < layers; l++) {
    // Four gates, each a dense map of [input, previous output] plus a bias.
    t.dense(inputs + hiddenSize, 4 * hiddenSize);
    inputs = hiddenSize;
  }
  t.dense(hiddenSize, vocabulary);
}

/** Parameters and forward multiply-adds of `model` on a dataset of `shape` (LSTM sizes as in ModelOptions.lstm). */
export function modelCost(model: ModelName, shape: DatasetShape, lstmOptions: Partial<LstmShape> = {}): ModelCost {
  const t = new Tally();
  const features = shape.inputShape.reduce((a, b) => a * b, 1);
  switch (model) {
    case 'logreg':
      t.dense(features, shape.numClasses);
      break;
    case 'fnn':
    case 'synthetic': {
      const width = MLP_WIDTH[model];
      t.dense(t.dense(t.dense(features, width), width), shape.numClasses);
      break;
    }
    case 'cnn':
      lenet(t, shape);
      break;
    case 'resnet20':
      resnet20(t, shape);
      break;
    case 'vgg16':
      vgg16(t, shape);
      break;
    case 'lstm':
      lstm(t, shape.numClasses, lstmOptions);
      break;
  }
  return { parameters: t.parameters, forwardMacs: t.forwardMacs };
}

/** The cost of an experiment's model on its data set (PTB at its full vocabulary). */
export function experimentModelCost(experiment: Pick<Experiment, 'model' | 'dataset'>): ModelCost {
  return modelCost(experiment.model, DATASET_SHAPES[experiment.dataset.name]);
}

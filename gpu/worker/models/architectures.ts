/**
 * The networks, as TensorFlow.js layers models whose outputs are logits. Every random weight is
 * created as zeros and given an InitRule (init.ts), so initialisation is deterministic; every layer
 * has an explicit name, so weight names ("fc1/kernel", "stage2_block1_conv1/kernel") are the same
 * in every process.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ModelName } from '../../../common/experiment';
import type { DatasetInfo } from '../data/types';
import type { InitRule } from './init';
import { ZeroPadShortcut } from './layers';

export interface LstmOptions {
  /** Embedding width (default 200). */
  embeddingSize?: number;
  /** LSTM units per layer (default 200). */
  hiddenSize?: number;
  /** Stacked LSTM layers (default 2). */
  layers?: number;
}

export interface ModelOptions {
  lstm?: LstmOptions;
  /** Batch-norm moving-average momentum (default 0.9, i.e. PyTorch's 0.1). */
  batchNormMomentum?: number;
}

export interface Architecture {
  /**
   * Logits (and for the language model the new states) of [input] or [tokens, h1, c1, h2, c2, ...];
   * batch norm uses batch statistics and updates its moving averages when `training`.
   */
  forward(inputs: tf.Tensor[], training: boolean): tf.Tensor[];
  /** Every weight, created (built) already: trainable ones first in a fixed order, then the state. */
  trainable: tfl.LayerVariable[];
  state: tfl.LayerVariable[];
  dispose(): void;
  /** Initialisation of every weight created as zeros, by weight name. */
  rules: Map<string, InitRule>;
  /** Language model: recurrent layers and their width (state inputs h0, c0, h1, c1, ...). */
  recurrent?: { layers: number; hidden: number };
  /** Examples per forward pass in evaluate(). */
  evalBatchSize: number;
}

type Sym = tfl.SymbolicTensor;

const GLOROT: InitRule = { kind: 'glorotUniform' };
const HE: InitRule = { kind: 'heNormal' };

class Builder {
  readonly rules = new Map<string, InitRule>();

  constructor(private readonly bnMomentum: number) {}

  dense(x: Sym, name: string, units: number, activation: 'relu' | 'linear' = 'linear', init: InitRule = GLOROT): Sym {
    this.rules.set(`${name}/kernel`, init);
    return tfl.layers
      .dense({ name, units, activation, kernelInitializer: 'zeros', biasInitializer: 'zeros' })
      .apply(x) as Sym;
  }

  conv(
    x: Sym,
    name: string,
    filters: number,
    kernelSize: number,
    options: {
      strides?: number;
      padding?: 'same' | 'valid';
      activation?: 'relu' | 'linear';
      useBias?: boolean;
      init?: InitRule;
    } = {},
  ): Sym {
    this.rules.set(`${name}/kernel`, options.init ?? HE);
    return tfl.layers
      .conv2d({
        name,
        filters,
        kernelSize,
        strides: options.strides ?? 1,
        padding: options.padding ?? 'same',
        activation: options.activation ?? 'linear',
        useBias: options.useBias ?? true,
        kernelInitializer: 'zeros',
        biasInitializer: 'zeros',
      })
      .apply(x) as Sym;
  }

  bn(x: Sym, name: string): Sym {
    return tfl.layers.batchNormalization({ name, axis: -1, momentum: this.bnMomentum, epsilon: 1e-5 }).apply(x) as Sym;
  }

  relu(x: Sym, name: string): Sym {
    return tfl.layers.activation({ name, activation: 'relu' }).apply(x) as Sym;
  }
}

/** Flattens images to vectors (vectors pass through). */
function flatten(x: Sym, name = 'flatten'): Sym {
  return x.shape.length > 2 ? (tfl.layers.flatten({ name }).apply(x) as Sym) : x;
}

function classifier(
  info: DatasetInfo,
  body: (b: Builder, x: Sym) => Sym,
  options: ModelOptions,
  evalBatchSize: number,
): Architecture {
  const b = new Builder(options.batchNormMomentum ?? 0.9);
  const input = tfl.input({ shape: [...info.inputShape], name: 'input' });
  const logits = body(b, input);
  const model = tfl.model({ inputs: input, outputs: logits, name: 'classifier' });
  return {
    forward: (inputs, training) => [model.apply(inputs[0]!, { training }) as tf.Tensor],
    trainable: model.trainableWeights,
    state: model.nonTrainableWeights,
    dispose: () => model.dispose(),
    rules: b.rules,
    evalBatchSize,
  };
}

/** A perceptron with two ReLU hidden layers of `width` units (the FNN and the synthetic model). */
function mlp(b: Builder, input: Sym, width: number, classes: number): Sym {
  const h = b.dense(b.dense(flatten(input), 'fc1', width, 'relu'), 'fc2', width, 'relu');
  return b.dense(h, 'fc3', classes);
}

/** He et al.'s ResNet-20 for CIFAR: 3 stages x 3 basic blocks, 16/32/64 channels, option-A shortcuts. */
function resnet20(b: Builder, input: Sym, classes: number): Sym {
  let x = b.relu(b.bn(b.conv(input, 'conv1', 16, 3, { useBias: false }), 'bn1'), 'relu1');
  let channels = 16;
  [16, 32, 64].forEach((width, s) => {
    for (let block = 0; block < 3; block++) {
      const name = `stage${s + 1}_block${block + 1}`;
      const stride = s > 0 && block === 0 ? 2 : 1;
      let y = b.conv(x, `${name}_conv1`, width, 3, { strides: stride, useBias: false });
      y = b.relu(b.bn(y, `${name}_bn1`), `${name}_relu1`);
      y = b.bn(b.conv(y, `${name}_conv2`, width, 3, { useBias: false }), `${name}_bn2`);
      const shortcut =
        stride === 1 && width === channels
          ? x
          : (new ZeroPadShortcut({ name: `${name}_shortcut`, channels: width, stride }).apply(x) as Sym);
      x = b.relu(tfl.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as Sym, `${name}_relu2`);
      channels = width;
    }
  });
  x = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as Sym;
  return b.dense(x, 'fc', classes);
}

/** VGG-16 for CIFAR-10 (13 3x3 convolutions with batch norm, 5 max-pools, one 512->10 classifier). */
function vgg16(b: Builder, input: Sym, classes: number): Sym {
  const config: (number | 'M')[] = [
    64,
    64,
    'M',
    128,
    128,
    'M',
    256,
    256,
    256,
    'M',
    512,
    512,
    512,
    'M',
    512,
    512,
    512,
    'M',
  ];
  let x = input;
  let conv = 0;
  let pool = 0;
  for (const item of config) {
    if (item === 'M') {
      x = tfl.layers.maxPooling2d({ name: `pool${++pool}`, poolSize: 2, strides: 2 }).apply(x) as Sym;
    } else {
      const name = `conv${++conv}`;
      x = b.relu(b.bn(b.conv(x, name, item, 3, { useBias: false }), `${name}_bn`), `${name}_relu`);
    }
  }
  return b.dense(flatten(x), 'fc', classes);
}

/** LeNet-style CNN (Caffe's LeNet with ReLU): conv5x5-20, pool, conv5x5-50, pool, fc500, fc. */
function lenet(b: Builder, input: Sym, classes: number): Sym {
  let x = b.conv(input, 'conv1', 20, 5, { padding: 'valid', activation: 'relu' });
  x = tfl.layers.maxPooling2d({ name: 'pool1', poolSize: 2, strides: 2 }).apply(x) as Sym;
  x = b.conv(x, 'conv2', 50, 5, { padding: 'valid', activation: 'relu' });
  x = tfl.layers.maxPooling2d({ name: 'pool2', poolSize: 2, strides: 2 }).apply(x) as Sym;
  x = b.dense(flatten(x), 'fc1', 500, 'relu', HE);
  return b.dense(x, 'fc2', classes);
}

/**
 * Embedding, `layers` stacked LSTMs and a dense decoder over the vocabulary, run imperatively
 * (tfjs-layers' functional models cannot pass initial states to an RNN), with the states of
 * every layer as explicit inputs and outputs.
 */
function lstmLanguageModel(info: DatasetInfo, options: LstmOptions): Architecture {
  const vocabulary = info.numClasses;
  const embeddingSize = options.embeddingSize ?? 200;
  const hidden = options.hiddenSize ?? 200;
  const layers = options.layers ?? 2;
  const rules = new Map<string, InitRule>();
  rules.set('embedding/embeddings', { kind: 'uniform', limit: 0.1 });
  const embedding = tfl.layers.embedding({
    name: 'embedding',
    inputDim: vocabulary,
    outputDim: embeddingSize,
    embeddingsInitializer: 'zeros',
  });
  const lstms = Array.from({ length: layers }, (_, l) => {
    const name = `lstm${l + 1}`;
    rules.set(`${name}/kernel`, GLOROT);
    rules.set(`${name}/recurrent_kernel`, { kind: 'orthogonal' });
    return tfl.layers.lstm({
      name,
      units: hidden,
      returnSequences: true,
      returnState: true,
      unitForgetBias: true,
      kernelInitializer: 'zeros',
      recurrentInitializer: 'zeros',
      biasInitializer: 'zeros',
    });
  });
  rules.set('decoder/kernel', { kind: 'uniform', limit: 0.1 });
  const decoder = tfl.layers.dense({
    name: 'decoder',
    units: vocabulary,
    kernelInitializer: 'zeros',
    biasInitializer: 'zeros',
  });
  const forward = (inputs: tf.Tensor[], training: boolean): tf.Tensor[] => {
    let x = embedding.apply(inputs[0]!) as tf.Tensor;
    const states: tf.Tensor[] = [];
    lstms.forEach((lstm, l) => {
      const [sequence, h, c] = lstm.apply(x, {
        initialState: [inputs[1 + 2 * l]!, inputs[2 + 2 * l]!],
        training,
      }) as tf.Tensor[];
      x = sequence!;
      states.push(h!, c!);
    });
    return [decoder.apply(x) as tf.Tensor, ...states];
  };
  // One step on one stream builds every layer's weights.
  tf.tidy(() => {
    const zeros = Array.from({ length: 2 * layers }, () => tf.zeros([1, hidden]));
    forward([tf.zeros([1, 1], 'int32'), ...zeros], false);
  });
  const all = [embedding, ...lstms, decoder];
  return {
    forward,
    trainable: all.flatMap((layer) => layer.trainableWeights),
    state: all.flatMap((layer) => layer.nonTrainableWeights),
    dispose: () => all.forEach((layer) => layer.dispose()),
    rules,
    recurrent: { layers, hidden },
    evalBatchSize: 10,
  };
}

export function buildArchitecture(name: ModelName, info: DatasetInfo, options: ModelOptions = {}): Architecture {
  const classes = info.numClasses;
  switch (name) {
    case 'logreg':
      return classifier(info, (b, x) => b.dense(flatten(x), 'fc', classes), options, 1000);
    case 'fnn':
      return classifier(info, (b, x) => mlp(b, x, 200, classes), options, 1000);
    case 'cnn':
      return classifier(info, (b, x) => lenet(b, x, classes), options, 500);
    case 'resnet20':
      return classifier(info, (b, x) => resnet20(b, x, classes), options, 200);
    case 'vgg16':
      return classifier(info, (b, x) => vgg16(b, x, classes), options, 100);
    case 'synthetic':
      return classifier(info, (b, x) => mlp(b, x, 64, classes), options, 1000);
    case 'lstm':
      return lstmLanguageModel(info, options.lstm ?? {});
  }
}

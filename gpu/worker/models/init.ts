/**
 * Deterministic weight initialisation, computed on the host from the seed with the data module's
 * generator: every tensor's values depend only on (model seed, tensor name, shape, rule), never on
 * Math.random, on TensorFlow.js's generator or on the backend, so two processes building the same
 * model with the same seed get bit-identical weights.
 */
import { Random, deriveSeed } from '../data/random';

export type InitRule =
  /** U(±sqrt(6 / (fanIn + fanOut))), Keras' default for dense and convolution kernels. */
  | { kind: 'glorotUniform' }
  /** N(0, 2 / fanIn), He et al. for ReLU networks. */
  | { kind: 'heNormal' }
  /** U(±limit). */
  | { kind: 'uniform'; limit: number }
  /** A (semi-)orthogonal matrix of the 2-D shape (rows orthonormal when rows <= columns). */
  | { kind: 'orthogonal' };

/** Fans as Keras computes them: the last axis is the output, the one before the input, the rest the receptive field. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 0) return { fanIn: 1, fanOut: 1 };
  if (shape.length === 1) return { fanIn: shape[0]!, fanOut: shape[0]! };
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[shape.length - 2]! * receptive, fanOut: shape[shape.length - 1]! * receptive };
}

export function initialValues(rule: InitRule, shape: readonly number[], seed: number, name: string): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const random = new Random(deriveSeed(seed, 'init', name));
  const out = new Float32Array(size);
  const { fanIn, fanOut } = fans(shape);
  switch (rule.kind) {
    case 'glorotUniform': {
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < size; i++) out[i] = (2 * random.next() - 1) * limit;
      return out;
    }
    case 'heNormal': {
      const std = Math.sqrt(2 / fanIn);
      for (let i = 0; i < size; i++) out[i] = random.nextNormal() * std;
      return out;
    }
    case 'uniform':
      for (let i = 0; i < size; i++) out[i] = (2 * random.next() - 1) * rule.limit;
      return out;
    case 'orthogonal':
      return orthogonal(shape, random);
  }
}

/** Modified Gram-Schmidt in float64 on the shorter side of a Gaussian matrix. */
function orthogonal(shape: readonly number[], random: Random): Float32Array {
  if (shape.length !== 2) throw new Error(`orthogonal initialisation needs a 2-D shape, got [${shape.join(', ')}]`);
  const [rows, cols] = shape as [number, number];
  const count = Math.min(rows, cols);
  const length = Math.max(rows, cols);
  const vectors: Float64Array[] = [];
  for (let v = 0; v < count; v++) {
    const u = new Float64Array(length);
    for (let i = 0; i < length; i++) u[i] = random.nextNormal();
    for (const w of vectors) {
      let dot = 0;
      for (let i = 0; i < length; i++) dot += u[i]! * w[i]!;
      for (let i = 0; i < length; i++) u[i] = u[i]! - dot * w[i]!;
    }
    let norm = 0;
    for (let i = 0; i < length; i++) norm += u[i]! * u[i]!;
    norm = Math.sqrt(norm);
    for (let i = 0; i < length; i++) u[i] = u[i]! / norm;
    vectors.push(u);
  }
  const out = new Float32Array(rows * cols);
  // rows <= cols: the vectors are the rows; otherwise they are the columns.
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = rows <= cols ? vectors[r]![c]! : vectors[c]![r]!;
  }
  return out;
}

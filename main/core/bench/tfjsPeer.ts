import type { PeerTiming } from '../../../common/bench';

/** TensorFlow.js's tf.topk on its CPU backend (pure JavaScript), the peer closest to home. */
export async function timeTfjsTopk(data: Float32Array, densities: number[], repeats: number): Promise<PeerTiming[]> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  const x = tf.tensor1d(data);
  const timings: PeerTiming[] = [];
  for (const density of densities) {
    const k = Math.max(1, Math.floor(density * data.length));
    const samples: number[] = [];
    for (let r = 0; r <= repeats; r++) {
      const started = performance.now();
      const result = tf.tidy(() => tf.topk(tf.abs(x), k));
      await result.indices.data();
      if (r > 0) samples.push(performance.now() - started);
      result.values.dispose();
      result.indices.dispose();
    }
    timings.push({ name: 'tf.topk (tfjs cpu)', density, ms: median(samples) });
  }
  x.dispose();
  return timings;
}

export function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

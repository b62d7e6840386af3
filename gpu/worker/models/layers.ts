import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/**
 * The parameter-free shortcut of He et al.'s CIFAR ResNets ("option A"): subsample by the stride
 * (x[:, ::s, ::s, :]) and zero-pad the channels up to `channels`, half on each side.
 */
export class ZeroPadShortcut extends tfl.layers.Layer {
  static readonly className = 'ZeroPadShortcut';
  private readonly channels: number;
  private readonly stride: number;

  constructor(args: { channels: number; stride: number; name: string }) {
    super({ name: args.name, trainable: false });
    this.channels = args.channels;
    this.stride = args.stride;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const [n, h, w] = shape;
    const down = (d: number | null | undefined) => (d == null ? null : Math.ceil(d / this.stride));
    return [n ?? null, down(h), down(w), this.channels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const s = this.stride;
      // A 1x1 average pool with stride s is x[:, ::s, ::s, :] (and, unlike stridedSlice, has a gradient).
      const sub = s === 1 ? x : tf.avgPool(x, 1, s, 'valid');
      const extra = this.channels - x.shape[3];
      if (extra <= 0) return sub;
      const before = Math.floor(extra / 2);
      return tf.pad(sub, [
        [0, 0],
        [0, 0],
        [0, 0],
        [before, extra - before],
      ]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), channels: this.channels, stride: this.stride };
  }
}

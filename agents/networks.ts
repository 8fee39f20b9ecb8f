/*
 * Forward (and, for the conv stack, backward) passes of the networks as
 * functions of explicit parameter tensors, so the same code runs the online
 * nets, the target nets and a parameter snapshot.
 *
 * Encoder (CURL's PixelEncoder): obs / 255 -> conv 3x3 (stride 2, then 1),
 * ReLU after every conv (the last included), flatten, dense latentDim,
 * LayerNorm. The reference builds the actor's and critic's encoders with
 * output_logits=True, so NO tanh follows the LayerNorm; we do the same.
 */
import * as tf from '@tensorflow/tfjs';
import { convStride } from './conv-size.js';
import { conv2dFilterGradT, conv2dInputGrad, dense, denseRelu, layerNorm, sumToChannels, transposeForFilterGrad } from './ops.js';

export interface ConvParams {
  readonly w: readonly tf.Tensor4D[];
  readonly b: readonly tf.Tensor1D[];
}
export interface HeadParams {
  readonly fcW: tf.Tensor2D;
  readonly fcB: tf.Tensor1D;
  readonly lnG: tf.Tensor1D;
  readonly lnB: tf.Tensor1D;
}
/** Three dense layers with ReLU between (the reference's trunks). */
export interface MlpParams {
  readonly w: readonly tf.Tensor2D[];
  readonly b: readonly tf.Tensor1D[];
}

export interface ConvForward {
  /** Flattened output of the last ReLU. [N, side * side * filters] */
  readonly h: tf.Tensor2D;
  /** Post-ReLU output of every layer (only when kept for a backward pass). */
  readonly acts: tf.Tensor4D[];
}

/**
 * x holds raw pixel values 0..255 as float. The 1/255 scaling is folded into
 * the first filter (a 3x3xCx32 multiply instead of one over the whole batch).
 */
export function convForward(x: tf.Tensor4D, p: ConvParams, keepActivations: boolean): ConvForward {
  return tf.tidy(() => {
    const acts: tf.Tensor4D[] = [];
    let a = x;
    p.w.forEach((w, l) => {
      const filter = l === 0 ? (tf.mul(w, 1 / 255) as tf.Tensor4D) : w;
      a = tf.fused.conv2d({ x: a, filter, strides: convStride(l), pad: 'valid', bias: p.b[l], activation: 'relu' });
      if (keepActivations) acts.push(a);
    });
    return { h: tf.reshape(a, [a.shape[0], -1]) as tf.Tensor2D, acts };
  });
}

export interface ConvGrads {
  readonly w: tf.Tensor4D[];
  readonly b: tf.Tensor1D[];
}

/**
 * Backward pass of convForward for the output gradient dh, from the kept
 * activations, as plain forward convolutions (see ops.ts). The input itself
 * needs no gradient, so the first layer's input gradient is skipped.
 * `transposedInputs`, when given, caches each layer's transposed input (kept
 * out of tidy; the caller disposes it) so a second backward pass over the same
 * activations skips those transposes.
 */
export function convBackward(
  x: tf.Tensor4D,
  acts: readonly tf.Tensor4D[],
  p: ConvParams,
  dh: tf.Tensor2D,
  transposedInputs?: Array<tf.Tensor4D | undefined>,
): ConvGrads {
  return tf.tidy(() => {
    const n = acts.length;
    const gw: tf.Tensor4D[] = new Array<tf.Tensor4D>(n);
    const gb: tf.Tensor1D[] = new Array<tf.Tensor1D>(n);
    let d = tf.reshape(dh, acts[n - 1]!.shape) as tf.Tensor4D;
    for (let l = n - 1; l >= 0; l--) {
      const out = acts[l]!;
      d = tf.mul(d, tf.step(out)) as tf.Tensor4D; // ReLU mask from its output
      gb[l] = sumToChannels(d);
      const input = l === 0 ? x : acts[l - 1]!;
      let xt = transposedInputs?.[l];
      if (!xt) {
        xt = transposeForFilterGrad(input);
        if (transposedInputs) transposedInputs[l] = tf.keep(xt);
      }
      const w = p.w[l]!;
      const g = conv2dFilterGradT(xt, d, convStride(l), w.shape[0], w.shape[1]);
      gw[l] = l === 0 ? (tf.mul(g, 1 / 255) as tf.Tensor4D) : g;
      if (l > 0) d = conv2dInputGrad(d, w, convStride(l), input.shape[1], input.shape[2]);
    }
    return { w: gw, b: gb };
  });
}

/** dense -> LayerNorm: the encoder's head on top of the conv features. */
export function headForward(h: tf.Tensor2D, p: HeadParams): tf.Tensor2D {
  return tf.tidy(() => layerNorm(dense(h, p.fcW, p.fcB), p.lnG, p.lnB));
}

export function mlpForward(x: tf.Tensor2D, p: MlpParams): tf.Tensor2D {
  return tf.tidy(() => {
    let a = x;
    const last = p.w.length - 1;
    for (let i = 0; i < last; i++) a = denseRelu(a, p.w[i]!, p.b[i]!);
    return dense(a, p.w[last]!, p.b[last]!);
  });
}

/** Q(z, a): the MLP on [latent, action]. [N, 1]. `mlp` runs the MLP (agents/head-kernels.ts; tfjs' when left out). */
export function qForward(z: tf.Tensor2D, action: tf.Tensor2D, p: MlpParams, mlp = mlpForward): tf.Tensor2D {
  return tf.tidy(() => mlp(tf.concat([z, action], 1), p));
}

/** Actor trunk output split into (mu, raw log std), each [N, A]. */
export function actorForward(z: tf.Tensor2D, p: MlpParams, actionDim: number, mlp = mlpForward): { mu: tf.Tensor2D; logStdRaw: tf.Tensor2D } {
  return tf.tidy(() => {
    const out = mlp(z, p);
    const [mu, logStdRaw] = tf.split(out, [actionDim, actionDim], 1) as [tf.Tensor2D, tf.Tensor2D];
    return { mu, logStdRaw };
  });
}

/**
 * The latent z of an encoder head's dense output u (before its LayerNorm),
 * with the LayerNorm `<prefix>.ln.*` found in `params`: the online critic's,
 * the critic target's, or a differentiable copy inside a gradient tape.
 */
export function latent(u: tf.Tensor2D, params: ReadonlyMap<string, tf.Tensor>, prefix: string): tf.Tensor2D {
  const g = params.get(`${prefix}.ln.g`);
  const b = params.get(`${prefix}.ln.b`);
  if (!g || !b) throw new Error(`agent: missing LayerNorm parameters of "${prefix}"`);
  return layerNorm(u, g as tf.Tensor1D, b as tf.Tensor1D);
}

// What the objectives compute on the encoder's latents (networks.ts latent():
// the LayerNorm of an encoder output): unit-norm rows, and the alignment and
// uniformity metrics of two views.
import * as tf from '@tensorflow/tfjs';
import { matMul } from '../ops.js';
import type { MetricSink } from './objective.js';

/**
 * Rows scaled to unit L2 norm: x / max(||x||, 1e-12), as torch.nn.functional.normalize. Written as
 * x * rsqrt(max(sum x^2, 1e-24)) so that an all-zero row (a black frame through zero biases) has a
 * zero gradient rather than NaN: sqrt's derivative at 0 is infinite, and tf.norm's gradient would
 * carry it even where the max takes the constant.
 */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-24))) as tf.Tensor2D);
}

/**
 * Wang & Isola (2020)'s alignment and uniformity of two views' embeddings,
 * on their L2-normalised rows: alignment = mean_i ||a_i - b_i||^2,
 * uniformity = log mean_{i != j} exp(-2 ||a_i - a_j||^2) over the first view.
 */
export function alignmentUniformity(a: tf.Tensor2D, b: tf.Tensor2D): { alignment: tf.Scalar; uniformity: tf.Scalar } {
  return tf.tidy(() => {
    const na = l2Normalize(a);
    const nb = l2Normalize(b);
    const alignment = tf.mean(tf.sum(tf.square(tf.sub(na, nb)), 1)) as tf.Scalar;
    const n = na.shape[0];
    // ||a_i - a_j||^2 = 2 - 2 a_i.a_j for unit rows
    const sq = tf.sub(2, tf.mul(tf.matMul(na, tf.transpose(na)), 2));
    const off = tf.sub(1, tf.eye(n));
    const mean = tf.div(tf.sum(tf.mul(tf.exp(tf.mul(sq, -2)), off)), Math.max(1, n * (n - 1)));
    return { alignment, uniformity: tf.log(mean) as tf.Scalar };
  });
}

/** Records auxAlignment and auxUniformity of the two views' latents (for objectives without an accuracy). */
export function recordAlignment(z1: tf.Tensor2D, z2: tf.Tensor2D, record: MetricSink): void {
  const { alignment, uniformity } = alignmentUniformity(z1, z2);
  record('auxAlignment', alignment);
  record('auxUniformity', uniformity);
}

/**
 * Squared Euclidean distances between the rows of a [N, D] and b [M, D], [N, M]:
 * ||a_i||^2 + ||b_j||^2 - 2 a_i.b_j, floored at 0 (the expansion can round below it).
 */
export function squaredDistances(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const aa = tf.sum(tf.square(a), 1, true);
    const bb = tf.reshape(tf.sum(tf.square(b), 1), [1, -1]);
    return tf.relu(tf.sub(tf.add(aa, bb), tf.mul(matMul(a, tf.transpose(b)), 2))) as tf.Tensor2D;
  });
}

/** The smallest squared distance a Euclidean distance is taken of (see distances). */
export const MIN_SQUARED_DISTANCE = 1e-12;

/**
 * Euclidean distances, sqrt(max(d^2, 1e-12)): sqrt's derivative is infinite at 0
 * (a row and itself, or two equal rows), and the floor makes the gradient there 0.
 */
export function distances(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.sqrt(tf.maximum(squaredDistances(a, b), MIN_SQUARED_DISTANCE)) as tf.Tensor2D);
}

/**
 * x as a constant: its value, with a zero gradient (tfjs has no stop_gradient). For what the
 * papers compute without gradient from a differentiable input: SwAV's codes, MoCHi's query mixes.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return constant(x) as T;
}

const constant = tf.customGrad(((input: tf.Tensor) => ({
  value: input.clone(),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

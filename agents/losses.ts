/*
 * The loss functions of SAC + CURL as pure tensor functions, so each can be
 * checked against hand-computed numbers. Shapes: N = batch, A = action dim.
 */
import * as tf from '@tensorflow/tfjs';
import { matMul } from './ops.js';

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

export interface TanhGaussian {
  /** tanh(mu): the deterministic action. [N, A] */
  readonly mean: tf.Tensor2D;
  /** tanh(mu + noise * std): the sampled action. [N, A] */
  readonly action: tf.Tensor2D;
  /** log pi(action | s) with the tanh change-of-variables correction. [N, 1] */
  readonly logPi: tf.Tensor2D;
  /** Squashed log std in [logStdMin, logStdMax]. [N, A] */
  readonly logStd: tf.Tensor2D;
}

/**
 * Reparameterised sample of the tanh-squashed Gaussian policy. The raw log
 * std is squashed as min + 0.5 (max - min)(tanh(x) + 1) (as the reference);
 * the correction subtracts sum log(relu(1 - tanh(u)^2) + 1e-6).
 */
export function tanhGaussian(
  mu: tf.Tensor2D,
  logStdRaw: tf.Tensor2D,
  noise: tf.Tensor2D,
  logStdMin: number,
  logStdMax: number,
): TanhGaussian {
  return tf.tidy(() => {
    const a = mu.shape[1];
    const logStd = tf.add(tf.mul(tf.add(tf.tanh(logStdRaw), 1), 0.5 * (logStdMax - logStdMin)), logStdMin) as tf.Tensor2D;
    const u = tf.add(mu, tf.mul(noise, tf.exp(logStd)));
    const gaussLogPi = tf.sub(
      tf.sum(tf.sub(tf.mul(tf.square(noise), -0.5), logStd), -1, true),
      HALF_LOG_2PI * a,
    );
    const action = tf.tanh(u) as tf.Tensor2D;
    const correction = tf.sum(tf.log(tf.add(tf.relu(tf.sub(1, tf.square(action))), 1e-6)), -1, true);
    return { mean: tf.tanh(mu) as tf.Tensor2D, action, logPi: tf.sub(gaussLogPi, correction) as tf.Tensor2D, logStd };
  });
}

/** Entropy of the pre-squash Gaussian, per sample (the reference's logged "entropy"). [N] */
export function gaussianEntropy(logStd: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.add(tf.sum(logStd, -1), logStd.shape[1] * (0.5 + HALF_LOG_2PI)) as tf.Tensor1D);
}

/** y = r + notDone * gamma * (min(Q1', Q2') - alpha * log pi(a'|s')). All [N, 1]. */
export function criticTarget(
  reward: tf.Tensor2D,
  notDone: tf.Tensor2D,
  q1Target: tf.Tensor2D,
  q2Target: tf.Tensor2D,
  logPiNext: tf.Tensor2D,
  alpha: tf.Scalar | number,
  discount: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const v = tf.sub(tf.minimum(q1Target, q2Target), tf.mul(alpha, logPiNext));
    return tf.add(reward, tf.mul(tf.mul(notDone, discount), v)) as tf.Tensor2D;
  });
}

/**
 * DrQ's average over K augmented views (Kostrikov, Yarats & Fergus 2020, eq. 2):
 * x holds K view-major blocks of N rows ([K * N, D]); returns (1/K) sum_k x_k, [N, D].
 */
export function averageViews(x: tf.Tensor2D, k: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [rows, d] = x.shape;
    if (rows % k !== 0) throw new RangeError(`averageViews: ${rows} rows are not ${k} equal views`);
    return tf.mean(tf.reshape(x, [k, rows / k, d]), 0) as tf.Tensor2D;
  });
}

/** MSE(Q1, y) + MSE(Q2, y). */
export function criticLoss(q1: tf.Tensor2D, q2: tf.Tensor2D, y: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.add(tf.mean(tf.squaredDifference(q1, y)), tf.mean(tf.squaredDifference(q2, y))) as tf.Scalar);
}

/** mean(alpha * log pi - min(Q1, Q2)), alpha treated as a constant. */
export function actorLoss(logPi: tf.Tensor2D, q1: tf.Tensor2D, q2: tf.Tensor2D, alpha: tf.Scalar | number): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sub(tf.mul(alpha, logPi), tf.minimum(q1, q2))) as tf.Scalar);
}

/** mean(exp(logAlpha) * (-log pi - targetEntropy)), log pi treated as a constant. */
export function alphaLoss(logAlpha: tf.Tensor, logPi: tf.Tensor2D, targetEntropy: number): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.exp(logAlpha), tf.mean(tf.sub(tf.neg(logPi), targetEntropy))).reshape([]) as tf.Scalar);
}

/**
 * CURL's bilinear logits z_a W z_pos^T with each row's max subtracted (for
 * stability; cross-entropy is invariant to it). zPos: [K, D] keys, zA: [N, D]
 * queries (N may be a chunk of the K rows). [N, K]
 */
export function curlLogits(zA: tf.Tensor2D, w: tf.Tensor2D, zPos: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const wz = matMul(w, tf.transpose(zPos)); // [D, K]
    const logits = matMul(zA, wz);
    return tf.sub(logits, tf.max(logits, 1, true)) as tf.Tensor2D;
  });
}

/**
 * Cross-entropy of logits against labels `offset + row` (the diagonal of the
 * full B x B matrix when a chunk of queries starts at row `offset`), summed
 * over rows and divided by `denominator` (B for the full mean), so chunk
 * losses add up to the batch mean.
 */
export function curlLoss(logits: tf.Tensor2D, offset = 0, denominator = logits.shape[0]): tf.Scalar {
  return tf.tidy(() => {
    const [n, k] = logits.shape;
    const labels = tf.oneHot(tf.range(offset, offset + n, 1, 'int32') as tf.Tensor1D, k);
    const lse = tf.logSumExp(logits, 1);
    const picked = tf.sum(tf.mul(logits, labels), 1);
    return tf.div(tf.sum(tf.sub(lse, picked)), denominator) as tf.Scalar;
  });
}

/** Fraction of rows whose argmax is the diagonal (label offset + row). */
export function curlAccuracy(logits: tf.Tensor2D, offset = 0): tf.Scalar {
  return tf.tidy(() => {
    const n = logits.shape[0];
    const labels = tf.range(offset, offset + n, 1, 'int32');
    return tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32')) as tf.Scalar;
  });
}

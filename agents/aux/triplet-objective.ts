// The triplet loss with semi-hard negatives as the agent runs it (see triplet.ts).
import * as tf from '@tensorflow/tfjs';
import * as L from '../losses.js';
import type { AuxCreateContext } from './descriptor.js';
import { squaredDistances } from './embedding.js';
import { unitQueriesAndKeys } from './margin-objective.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';

/** How far masked entries are moved out of a min or max: beyond any squared distance, finite in float32. */
const MASKED = 1e30;

/**
 * Anchors a_i, positives k_i, negatives of row i the other rows' positives
 * k_j (j != i); D_ij = ||a_i - k_j||^2. Row i's negative n(i) is, as FaceNet's
 * semi-hard mining (and TensorFlow's triplet_semihard_loss):
 * - the closest negative farther than the positive, argmin_j {D_ij : D_ij > D_ii}
 *   (a semi-hard one when D_ij < D_ii + alpha; if the closest is beyond the
 *   margin, every negative is and the row's loss is 0 whichever is taken);
 * - when no negative is farther than the positive (all are hard), the
 *   farthest negative, argmax_j D_ij: the least hard, still violating by more
 *   than alpha, where the hardest one would pull towards FaceNet's collapsed
 *   solutions.
 * Then loss = mean_i max(0, D_ii - D_i,n(i) + alpha). The choice is made on
 * the values (no gradient flows through it); the gradient reaches a_i and
 * through D_i,n(i) the chosen negative's distance only.
 * Also: accuracy (rows whose nearest key is their own) and the fraction of
 * rows that had a negative farther than their positive.
 */
export function tripletLoss(a: tf.Tensor2D, k: tf.Tensor2D, alpha: number): { loss: tf.Scalar; accuracy: tf.Scalar; semiHard: tf.Scalar } {
  return tf.tidy(() => {
    const n = a.shape[0];
    const eye = tf.eye(n);
    const off = tf.sub(1, eye);
    const d = squaredDistances(a, k);
    const dPos = tf.sum(tf.mul(d, eye), 1, true);
    // 1 where D_ij > D_ii and j != i (step: x > 0, with a zero gradient)
    const farther = tf.mul(tf.step(tf.sub(d, dPos)), off);
    const has = tf.step(tf.sum(farther, 1));
    const closestFarther = tf.min(tf.add(d, tf.mul(tf.sub(1, farther), MASKED)), 1);
    const farthest = tf.max(tf.sub(d, tf.mul(eye, MASKED)), 1);
    const dNeg = tf.add(tf.mul(has, closestFarther), tf.mul(tf.sub(1, has), farthest));
    const loss = tf.mean(tf.relu(tf.add(tf.sub(tf.reshape(dPos, [n]), dNeg), alpha))) as tf.Scalar;
    return { loss, accuracy: L.curlAccuracy(tf.neg(d) as tf.Tensor2D), semiHard: tf.mean(has) as tf.Scalar };
  });
}

export class TripletObjective implements AuxObjective {
  readonly name = 'triplet';
  readonly ownNames = [] as const;
  readonly optimizerKey = 'triplet';
  readonly metricPrefix = 'aux' as const;

  constructor(private readonly alpha: number) {}

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const { a, k } = unitQueriesAndKeys(inp);
    const { loss, accuracy, semiHard } = tripletLoss(a, k, this.alpha);
    record('auxAccuracy', accuracy);
    record('auxSemiHard', semiHard);
    return loss;
  }
}

export function create({ options }: AuxCreateContext<{ readonly auxAlpha: number }>): TripletObjective {
  return new TripletObjective(options.auxAlpha);
}

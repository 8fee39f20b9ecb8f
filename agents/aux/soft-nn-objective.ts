// The soft nearest-neighbour loss as the agent runs it (see soft-nn.ts).
import * as tf from '@tensorflow/tfjs';
import type { AuxCreateContext } from './descriptor.js';
import { latent } from '../networks.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';

/**
 * Over the 2N rows z_k of [z1; z2] (row k's positive p(k) is the other crop of
 * its stack), with d_kl = ||z_k - z_l||^2 / L:
 *
 *   loss = 1/(2N) sum_k -log( exp(-d_{k,p(k)} / T) / sum_{l != k} exp(-d_kl / T) )
 *
 * Frosst et al.'s loss with one same-class point per row; accuracy counts the
 * rows whose nearest other row is their positive.
 */
export function softNearestNeighbour(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): { loss: tf.Scalar; accuracy: tf.Scalar } {
  return tf.tidy(() => {
    const n = z1.shape[0];
    const dim = z1.shape[1];
    const z = tf.concat([z1, z2], 0) as tf.Tensor2D;
    const sq = tf.sum(tf.square(z), 1, true);
    // ||a||^2 + ||b||^2 - 2 a.b; rounding may leave it slightly below 0, which no sqrt sees
    const d = tf.sub(tf.add(sq, tf.transpose(sq)), tf.mul(tf.matMul(z, z, false, true), 2));
    const s = tf.div(d, -dim * temperature) as tf.Tensor2D;
    // itself out: -1e9 on the diagonal (exp underflows to 0)
    const masked = tf.sub(s, tf.mul(tf.eye(2 * n), 1e9)) as tf.Tensor2D;
    const partner = tf.concat([tf.range(n, 2 * n, 1, 'int32'), tf.range(0, n, 1, 'int32')]) as tf.Tensor1D;
    const picked = tf.sum(tf.mul(s, tf.oneHot(partner, 2 * n)), 1);
    const loss = tf.mean(tf.sub(tf.logSumExp(masked, 1), picked)) as tf.Scalar;
    const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(masked, 1), partner), 'float32')) as tf.Scalar;
    return { loss, accuracy };
  });
}

export class SoftNnObjective implements AuxObjective {
  readonly name = 'soft-nn';
  readonly ownNames: readonly string[] = [];
  readonly optimizerKey = 'soft-nn';
  readonly metricPrefix = 'aux' as const;

  constructor(private readonly temperature: number) {}

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const z1 = latent(inp.uA, inp.params, 'critic');
    const z2 = latent(inp.uP!, inp.params, 'critic');
    const { loss, accuracy } = softNearestNeighbour(z1, z2, this.temperature);
    record('auxAccuracy', accuracy);
    return loss;
  }
}

export function create({ options }: AuxCreateContext<{ readonly auxSnnTemperature: number }>): SoftNnObjective {
  return new SoftNnObjective(options.auxSnnTemperature);
}

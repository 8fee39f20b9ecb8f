// The contrastive loss with a margin as the agent runs it (see margin.ts).
import * as tf from '@tensorflow/tfjs';
import * as L from '../losses.js';
import { latent } from '../networks.js';
import type { AuxCreateContext } from './descriptor.js';
import { distances, l2Normalize, squaredDistances } from './embedding.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';

/**
 * With a_i, k_j the rows (already on the unit sphere), d_ij = ||a_i - k_j||:
 *
 *   loss = mean_i [ d_ii^2 + 1/(N-1) sum_{j != i} max(0, m - d_ij)^2 ]
 *
 * Each row's positive pair and the mean of its N - 1 negative pairs weigh
 * the same, as a sampler drawing positive and negative pairs equally often
 * would (Hadsell et al.'s 1/2 factors dropped: a constant scale).
 * Accuracy: rows whose nearest key is their own.
 */
export function marginLoss(a: tf.Tensor2D, k: tf.Tensor2D, m: number): { loss: tf.Scalar; accuracy: tf.Scalar } {
  return tf.tidy(() => {
    const n = a.shape[0];
    const eye = tf.eye(n);
    const sq = squaredDistances(a, k);
    const d = distances(a, k);
    const pos = tf.sum(tf.mul(sq, eye), 1);
    const neg = tf.sum(tf.mul(tf.square(tf.relu(tf.sub(m, d))), tf.sub(1, eye)), 1);
    const loss = tf.mean(tf.add(pos, tf.div(neg, Math.max(1, n - 1)))) as tf.Scalar;
    return { loss, accuracy: L.curlAccuracy(tf.neg(d) as tf.Tensor2D) };
  });
}

/** The online anchor latents and the momentum keys, each L2-normalised: what margin and triplet compare. */
export function unitQueriesAndKeys(inp: AuxInputs): { a: tf.Tensor2D; k: tf.Tensor2D } {
  return { a: l2Normalize(latent(inp.uA, inp.params, 'critic')), k: l2Normalize(latent(inp.uPosT!, inp.fixed, 'target.critic')) };
}

export class MarginObjective implements AuxObjective {
  readonly name = 'margin';
  readonly ownNames = [] as const;
  readonly optimizerKey = 'margin';
  readonly metricPrefix = 'aux' as const;

  constructor(private readonly margin: number) {}

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const { a, k } = unitQueriesAndKeys(inp);
    const { loss, accuracy } = marginLoss(a, k, this.margin);
    record('auxAccuracy', accuracy);
    return loss;
  }
}

export function create({ options }: AuxCreateContext<{ readonly auxMargin: number }>): MarginObjective {
  return new MarginObjective(options.auxMargin);
}

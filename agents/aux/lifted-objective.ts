// The lifted structured loss as the agent runs it (see lifted.ts).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/core/rng.js';
import * as L from '../losses.js';
import { latent } from '../networks.js';
import type { ParamMap } from '../params.js';
import type { AuxCreateContext } from './descriptor.js';
import { distances } from './embedding.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';
import { addMlp2, mlp2, mlp2Names } from './projection.js';
import type { ProjectionSizes } from './two-view.js';

/** How far masked entries are moved below the others before the log-sum-exp: exp of them is exactly 0. */
const MASKED = 1e30;

/**
 * Song et al.'s eq. 4 on the batch's 2N embeddings x = [a_1..a_N, k_1..k_N]
 * (anchors, then their positives), D = their Euclidean distances, positive
 * pairs (a_i, k_i) and, for both members of a pair, the 2N - 2 embeddings of
 * the other pairs as its negatives:
 *
 *   J_i = log( sum_{l in neg(i)} exp(alpha - D(a_i, x_l)) + sum_{l in neg(i)} exp(alpha - D(k_i, x_l)) ) + D(a_i, k_i)
 *   loss = 1/(2N) sum_i max(0, J_i)^2
 *
 * The log-sum-exp is the library's (shifted by its max). Accuracy: anchors
 * whose nearest positive k_j is their own.
 */
export function liftedLoss(a: tf.Tensor2D, k: tf.Tensor2D, alpha: number): { loss: tf.Scalar; accuracy: tf.Scalar } {
  return tf.tidy(() => {
    const n = a.shape[0];
    const d = distances(tf.concat([a, k], 0) as tf.Tensor2D, tf.concat([a, k], 0) as tf.Tensor2D);
    // self and partner of every row: [I I; I I]
    const eye = tf.eye(n);
    const pair = tf.concat([tf.concat([eye, eye], 1), tf.concat([eye, eye], 1)], 0);
    const s = tf.sub(tf.sub(alpha, d), tf.mul(pair, MASKED));
    const [sA, sK] = tf.split(s, 2, 0) as [tf.Tensor2D, tf.Tensor2D];
    const dAK = tf.slice(d, [0, n], [n, n]) as tf.Tensor2D;
    const j = tf.add(tf.logSumExp(tf.concat([sA, sK], 1), 1), tf.sum(tf.mul(dAK, eye), 1));
    const loss = tf.div(tf.sum(tf.square(tf.relu(j))), 2 * n) as tf.Scalar;
    return { loss, accuracy: L.curlAccuracy(tf.neg(dAK) as tf.Tensor2D) };
  });
}

/** The head `prefix.*` on the online anchor latents and on the momentum keys (its gradient comes from both). */
export function headOfBoth(inp: AuxInputs, prefix: string): { f: tf.Tensor2D; fPlus: tf.Tensor2D } {
  return {
    f: mlp2(latent(inp.uA, inp.params, 'critic'), inp.params, prefix),
    fPlus: mlp2(latent(inp.uPosT!, inp.fixed, 'target.critic'), inp.params, prefix),
  };
}

export class LiftedObjective implements AuxObjective {
  readonly name = 'lifted';
  readonly ownNames = mlp2Names('lifted');
  readonly optimizerKey = 'lifted';
  readonly metricPrefix = 'aux' as const;

  constructor(private readonly alpha: number) {}

  /** The head `lifted.*`: latent -> hidden, ReLU -> proj. */
  static addParams(params: ParamMap, latentDim: number, s: ProjectionSizes, rng: Rng): void {
    addMlp2(params, 'lifted', latentDim, s.auxHiddenDim, s.auxProjDim, rng);
  }

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const { f, fPlus } = headOfBoth(inp, 'lifted');
    const { loss, accuracy } = liftedLoss(f, fPlus, this.alpha);
    record('auxAccuracy', accuracy);
    return loss;
  }
}

export function create({ latentDim, options, params, rng }: AuxCreateContext<ProjectionSizes & { readonly auxMargin: number }>): LiftedObjective {
  LiftedObjective.addParams(params, latentDim, options, rng);
  return new LiftedObjective(options.auxMargin);
}

// SimCLR's NT-Xent as the agent runs it (see simclr.ts).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/core/rng.js';
import type { ParamMap } from '../params.js';
import type { AuxCreateContext } from './descriptor.js';
import { latent } from '../networks.js';
import { l2Normalize } from './embedding.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';
import { addMlp2, mlp2, mlp2Names } from './projection.js';
import type { ProjectionSizes } from './two-view.js';

/**
 * NT-Xent of two views' projections. With the 2N projections h_k
 * L2-normalised and s_kl = h_k . h_l / T:
 *
 *   loss = 1/(2N) sum_k [ -s_{k,p(k)} + log sum_{l != k} exp(s_kl) ]
 *
 * where p(k) is the other view of k's observation: for each of the 2N views,
 * one positive and the 2N - 2 other views as negatives.
 */
export function ntXent(h1: tf.Tensor2D, h2: tf.Tensor2D, temperature: number): { loss: tf.Scalar; accuracy: tf.Scalar } {
  return tf.tidy(() => {
    const n = h1.shape[0];
    const h = l2Normalize(tf.concat([h1, h2], 0) as tf.Tensor2D);
    const s = tf.div(tf.matMul(h, tf.transpose(h)), temperature) as tf.Tensor2D;
    // self-similarities out: -1e9 on the diagonal (exp underflows to 0)
    const self = tf.eye(2 * n);
    const masked = tf.sub(s, tf.mul(self, 1e9)) as tf.Tensor2D;
    const partner = tf.concat([tf.range(n, 2 * n, 1, 'int32'), tf.range(0, n, 1, 'int32')]) as tf.Tensor1D;
    const onehot = tf.oneHot(partner, 2 * n);
    const picked = tf.sum(tf.mul(s, onehot), 1);
    const loss = tf.mean(tf.sub(tf.logSumExp(masked, 1), picked)) as tf.Scalar;
    const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(masked, 1), partner), 'float32')) as tf.Scalar;
    return { loss, accuracy };
  });
}

export class SimclrObjective implements AuxObjective {
  readonly name = 'simclr';
  readonly ownNames = mlp2Names('simclr');
  readonly optimizerKey = 'simclr';
  readonly metricPrefix = 'aux' as const;

  constructor(private readonly temperature: number) {}

  /** The projection `simclr.*`: latent -> hidden, ReLU -> proj. */
  static addParams(params: ParamMap, latentDim: number, s: ProjectionSizes, rng: Rng): void {
    addMlp2(params, 'simclr', latentDim, s.auxHiddenDim, s.auxProjDim, rng);
  }

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const z1 = latent(inp.uA, inp.params, 'critic');
    const z2 = latent(inp.uP!, inp.params, 'critic');
    const { loss, accuracy } = ntXent(mlp2(z1, inp.params, 'simclr'), mlp2(z2, inp.params, 'simclr'), this.temperature);
    record('auxAccuracy', accuracy);
    return loss;
  }
}

export function create({ latentDim, options, params, rng }: AuxCreateContext<ProjectionSizes & { readonly auxTemperature: number }>): SimclrObjective {
  SimclrObjective.addParams(params, latentDim, options, rng);
  return new SimclrObjective(options.auxTemperature);
}

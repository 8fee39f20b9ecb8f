// The multi-class N-pair loss as the agent runs it (see n-pair.ts).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/core/rng.js';
import * as L from '../losses.js';
import { matMul } from '../ops.js';
import type { ParamMap } from '../params.js';
import type { AuxCreateContext } from './descriptor.js';
import { headOfBoth } from './lifted-objective.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';
import { addMlp2, mlp2Names } from './projection.js';
import type { ProjectionSizes } from './two-view.js';

/**
 * With s_ij = f_i . f_j+ (row i's positive f_i+, the other rows' positives its negatives):
 *
 *   loss = mean_i log(1 + sum_{j != i} exp(s_ij - s_ii))  +  lambda/4 (mean_i ||f_i||^2 + mean_i ||f_i+||^2)
 *
 * The first term is the cross-entropy of row i's logits on column i (the
 * library's log-sum-exp); the second Sohn's L2 regularisation of the
 * embeddings, weighted as TensorFlow's npairs_loss. Accuracy: rows whose
 * largest product is with their own positive.
 */
export function nPairLoss(f: tf.Tensor2D, fPlus: tf.Tensor2D, l2: number): { loss: tf.Scalar; accuracy: tf.Scalar } {
  return tf.tidy(() => {
    const s = matMul(f, tf.transpose(fPlus));
    const norms = tf.add(tf.mean(tf.sum(tf.square(f), 1)), tf.mean(tf.sum(tf.square(fPlus), 1)));
    const loss = tf.add(L.curlLoss(s), tf.mul(norms, l2 / 4)) as tf.Scalar;
    return { loss, accuracy: L.curlAccuracy(s) };
  });
}

export class NPairObjective implements AuxObjective {
  readonly name = 'n-pair';
  readonly ownNames = mlp2Names('npair');
  readonly optimizerKey = 'n-pair';
  readonly metricPrefix = 'aux' as const;

  constructor(private readonly l2: number) {}

  /** The head `npair.*`: latent -> hidden, ReLU -> proj. */
  static addParams(params: ParamMap, latentDim: number, s: ProjectionSizes, rng: Rng): void {
    addMlp2(params, 'npair', latentDim, s.auxHiddenDim, s.auxProjDim, rng);
  }

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const { f, fPlus } = headOfBoth(inp, 'npair');
    const { loss, accuracy } = nPairLoss(f, fPlus, this.l2);
    record('auxAccuracy', accuracy);
    return loss;
  }
}

export function create({ latentDim, options, params, rng }: AuxCreateContext<ProjectionSizes & { readonly auxL2Reg: number }>): NPairObjective {
  NPairObjective.addParams(params, latentDim, options, rng);
  return new NPairObjective(options.auxL2Reg);
}

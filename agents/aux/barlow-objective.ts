// Barlow Twins as the agent runs it (see barlow.ts).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/core/rng.js';
import type { ParamMap } from '../params.js';
import type { AuxCreateContext } from './descriptor.js';
import { latent } from '../networks.js';
import { recordAlignment } from './embedding.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';
import { addMlp2, mlp2, mlp2Names } from './projection.js';
import type { ProjectionSizes } from './two-view.js';

/** BatchNorm1d(affine=False)'s eps, as the paper's code normalises. */
export const BARLOW_BN_EPS = 1e-5;

/**
 * Each projection dimension of the two views a and b [N, D] is
 * batch-normalised over the N rows, (x - mean) / sqrt(var + 1e-5), var the
 * biased (1/N) variance as BatchNorm1d(affine=False) in training mode; then
 *
 *   C = a^T b / N                       [D, D] cross-correlation
 *   loss = sum_i (1 - C_ii)^2 + lambdaEff sum_{i != j} C_ij^2
 */
export function barlowLoss(a: tf.Tensor2D, b: tf.Tensor2D, lambdaEff: number): { loss: tf.Scalar; onDiag: tf.Scalar; offDiag: tf.Scalar } {
  return tf.tidy(() => {
    const n = a.shape[0];
    const d = a.shape[1];
    const bn = (x: tf.Tensor2D) => {
      const { mean, variance } = tf.moments(x, 0);
      return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, BARLOW_BN_EPS))) as tf.Tensor2D;
    };
    const c = tf.div(tf.matMul(tf.transpose(bn(a)), bn(b)), n);
    const eye = tf.eye(d);
    const onDiag = tf.sum(tf.square(tf.sub(1, tf.mul(c, eye)).mul(eye))) as tf.Scalar;
    const offDiag = tf.sum(tf.square(tf.mul(c, tf.sub(1, eye)))) as tf.Scalar;
    return { loss: tf.add(onDiag, tf.mul(offDiag, lambdaEff)) as tf.Scalar, onDiag, offDiag };
  });
}

/** The projection size the Barlow Twins paper tuned lambda = 5e-3 at; lambda given for it is used at `projDim` as lambda x 8192 / projDim. */
export const BARLOW_PAPER_DIM = 8192;

export function barlowLambdaEff(lambda: number, projDim: number): number {
  return (lambda * BARLOW_PAPER_DIM) / projDim;
}

export class BarlowObjective implements AuxObjective {
  readonly name = 'barlow';
  readonly ownNames = mlp2Names('barlow');
  readonly optimizerKey = 'barlow';
  readonly metricPrefix = 'aux' as const;

  constructor(private readonly lambdaEff: number) {}

  /** The projector `barlow.*`: latent -> hidden, ReLU -> D = proj. */
  static addParams(params: ParamMap, latentDim: number, s: ProjectionSizes, rng: Rng): void {
    addMlp2(params, 'barlow', latentDim, s.auxHiddenDim, s.auxProjDim, rng);
  }

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const z1 = latent(inp.uA, inp.params, 'critic');
    const z2 = latent(inp.uP!, inp.params, 'critic');
    const { loss, onDiag, offDiag } = barlowLoss(mlp2(z1, inp.params, 'barlow'), mlp2(z2, inp.params, 'barlow'), this.lambdaEff);
    record('auxOnDiag', onDiag);
    record('auxOffDiag', offDiag);
    recordAlignment(z1, z2, record);
    return loss;
  }
}

export function create({ latentDim, options, params, rng }: AuxCreateContext<ProjectionSizes & { readonly auxLambda: number }>): BarlowObjective {
  BarlowObjective.addParams(params, latentDim, options, rng);
  return new BarlowObjective(barlowLambdaEff(options.auxLambda, options.auxProjDim));
}

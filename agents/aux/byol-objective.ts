// BYOL as the agent runs it (see byol.ts).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/core/rng.js';
import { variableFrom } from '../params.js';
import type { ParamMap } from '../params.js';
import type { AuxCreateContext } from './descriptor.js';
import { softUpdate } from '../ema.js';
import { latent } from '../networks.js';
import { l2Normalize, recordAlignment } from './embedding.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';
import { addMlp2, mlp2, mlp2Names } from './projection.js';
import type { ProjectionSizes } from './two-view.js';

/**
 * With p_v the online prediction from view v and t_v the target projection of v:
 *
 *   loss = mean_i [ (2 - 2 cos(p1_i, t2_i)) + (2 - 2 cos(p2_i, t1_i)) ]
 *
 * (the paper's L + L~, each term ||p/|p| - t/|t|||^2 = 2 - 2 cos).
 */
export function byolLoss(p1: tf.Tensor2D, p2: tf.Tensor2D, t1: tf.Tensor2D, t2: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const cos = (a: tf.Tensor2D, b: tf.Tensor2D) => tf.sum(tf.mul(l2Normalize(a), l2Normalize(b)), 1);
    const l12 = tf.sub(2, tf.mul(cos(p1, t2), 2));
    const l21 = tf.sub(2, tf.mul(cos(p2, t1), 2));
    return tf.mean(tf.add(l12, l21)) as tf.Scalar;
  });
}

export class ByolObjective implements AuxObjective {
  readonly name = 'byol';
  readonly ownNames = [...mlp2Names('byol.proj'), ...mlp2Names('byol.pred')];
  readonly optimizerKey = 'byol';
  readonly metricPrefix = 'aux' as const;

  /** Projector latent -> hidden, ReLU -> proj; predictor proj -> hidden, ReLU -> proj; the target projector a copy of the online one. */
  static addParams(params: ParamMap, latentDim: number, s: ProjectionSizes, rng: Rng): void {
    addMlp2(params, 'byol.proj', latentDim, s.auxHiddenDim, s.auxProjDim, rng);
    addMlp2(params, 'byol.pred', s.auxProjDim, s.auxHiddenDim, s.auxProjDim, rng);
    // the target projector starts as a copy, as BYOL's target network
    for (const n of mlp2Names('byol.proj')) params.set(`target.${n}`, variableFrom(params.get(n)!.clone()));
  }

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const P = inp.params;
    const z1 = latent(inp.uA, P, 'critic');
    const z2 = latent(inp.uP!, P, 'critic');
    const p1 = mlp2(mlp2(z1, P, 'byol.proj'), P, 'byol.pred');
    const p2 = mlp2(mlp2(z2, P, 'byol.proj'), P, 'byol.pred');
    const t1 = mlp2(latent(inp.uObsT!, inp.fixed, 'target.critic'), inp.fixed, 'target.byol.proj');
    const t2 = mlp2(latent(inp.uPosT!, inp.fixed, 'target.critic'), inp.fixed, 'target.byol.proj');
    recordAlignment(z1, z2, record);
    return byolLoss(p1, p2, t1, t2);
  }

  ema(params: ParamMap, tau: number): void {
    softUpdate(params, mlp2Names('byol.proj'), tau);
  }
}

export function create({ latentDim, options, params, rng }: AuxCreateContext<ProjectionSizes>): ByolObjective {
  ByolObjective.addParams(params, latentDim, options, rng);
  return new ByolObjective();
}

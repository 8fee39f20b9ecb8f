import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/core/rng.js';
import { variableFrom } from '../params.js';
import type { ParamMap } from '../params.js';
import { addMlp2, l2Normalize, latent, mlp2, mlp2Names } from './objective.js';
import type { AuxInputs, AuxObjective, AuxShape, MetricSink } from './objective.js';
import { recordAlignment } from './simclr.js';

/**
 * BYOL (Grill et al. 2020, "Bootstrap Your Own Latent"). Online branch: the
 * online encoder -> projector `byol.proj` (latent -> hidden, ReLU -> proj) ->
 * predictor `byol.pred` (proj -> hidden, ReLU -> proj). Target branch: the
 * momentum encoder (the critic target's, as CURL's keys) -> target projector
 * `target.byol.proj`, no gradient; the target projector follows the online
 * one by EMA at the encoder's rate, whenever the target encoder does. With
 * p_v the online prediction from view v and t_v the target projection of v:
 *
 *   loss = mean_i [ (2 - 2 cos(p1_i, t2_i)) + (2 - 2 cos(p2_i, t1_i)) ]
 *
 * (the paper's L + L~, each term ||p/|p| - t/|t|||^2 = 2 - 2 cos). No negatives.
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
  readonly name = 'byol' as const;
  readonly needs = { onlinePos: true, targetPos: true, targetObs: true } as const;
  readonly ownNames = [...mlp2Names('byol.proj'), ...mlp2Names('byol.pred')];
  readonly optimizerKey = 'byol';
  readonly metricPrefix = 'aux' as const;

  static addParams(params: ParamMap, s: AuxShape, rng: Rng): void {
    addMlp2(params, 'byol.proj', s.latentDim, s.hiddenDim, s.projDim, rng);
    addMlp2(params, 'byol.pred', s.projDim, s.hiddenDim, s.projDim, rng);
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
    tf.tidy(() => {
      for (const n of mlp2Names('byol.proj')) {
        const t = params.get(`target.${n}`)!;
        t.assign(tf.add(tf.mul(params.get(n)!, tau), tf.mul(t, 1 - tau)));
      }
    });
  }
}

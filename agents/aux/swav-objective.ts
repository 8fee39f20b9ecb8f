// SwAV as the agent runs it (see swav.ts).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/core/rng.js';
import { variableFrom } from '../params.js';
import type { ParamMap } from '../params.js';
import type { AuxCreateContext } from './descriptor.js';
import { latent } from '../networks.js';
import { l2Normalize, stopGradient } from './embedding.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';
import { addMlp2, mlp2, mlp2Names } from './projection.js';
import type { ProjectionSizes } from './two-view.js';

export interface SinkhornOptions {
  readonly epsilon: number;
  readonly iterations: number;
}

/**
 * SwAV's codes for one crop's scores [B, K] (its `distributed_sinkhorn` on one
 * worker): Q = exp(scores / epsilon), Q /= sum Q, then `iterations` times:
 * each prototype's column scaled to sum 1/K, then each sample's row to sum
 * 1/B; returned x B, so each row sums to 1 and each column to about B/K.
 * Each column is shifted by its max before the exp: the first column
 * normalisation cancels any per-column factor (and the total one), so the
 * result is the same, and no column can underflow to all zeros.
 * A constant: no gradient reaches the scores.
 */
export function sinkhorn(scores: tf.Tensor2D, o: SinkhornOptions): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, k] = scores.shape;
    const x = tf.div(stopGradient(scores), o.epsilon);
    let q: tf.Tensor = tf.exp(tf.sub(x, tf.max(x, 0, true)));
    q = tf.div(q, tf.sum(q));
    for (let it = 0; it < o.iterations; it++) {
      q = tf.div(tf.div(q, tf.sum(q, 0, true)), k);
      q = tf.div(tf.div(q, tf.sum(q, 1, true)), b);
    }
    return tf.mul(q, b) as tf.Tensor2D;
  });
}

/**
 * With h_v the L2-normalised projections of crop v [B, D], C the prototypes
 * [K, D] (unit rows), scores S_v = h_v C^T, codes Q_v = sinkhorn(S_v) and
 * P_v = softmax(S_v / T) over the prototypes:
 *
 *   loss = 1/2 [ -mean_b sum_k Q_1 log P_2  -  mean_b sum_k Q_2 log P_1 ]
 *
 * (the paper's swapped prediction, eq. 1-2, for two crops). Accuracy: how
 * often a crop's most likely prototype is the other crop's top code.
 */
export function swavLoss(h1: tf.Tensor2D, h2: tf.Tensor2D, prototypes: tf.Tensor2D, temperature: number, o: SinkhornOptions): { loss: tf.Scalar; accuracy: tf.Scalar } {
  return tf.tidy(() => {
    const scores = [h1, h2].map((h) => tf.matMul(l2Normalize(h), prototypes, false, true) as tf.Tensor2D);
    const codes = scores.map((s) => sinkhorn(s, o));
    const logP = scores.map((s) => tf.logSoftmax(tf.div(s, temperature)));
    const ce = (q: tf.Tensor, lp: tf.Tensor) => tf.neg(tf.mean(tf.sum(tf.mul(q, lp), 1)));
    const loss = tf.div(tf.add(ce(codes[0]!, logP[1]!), ce(codes[1]!, logP[0]!)), 2) as tf.Scalar;
    const agree = (q: tf.Tensor, lp: tf.Tensor) => tf.mean(tf.cast(tf.equal(tf.argMax(q, 1), tf.argMax(lp, 1)), 'float32'));
    const accuracy = tf.div(tf.add(agree(codes[0]!, logP[1]!), agree(codes[1]!, logP[0]!)), 2) as tf.Scalar;
    return { loss, accuracy };
  });
}

export interface SwavValues extends ProjectionSizes {
  readonly auxTemperature: number;
  readonly auxPrototypes: number;
  readonly auxSinkhornEpsilon: number;
  readonly auxSinkhornIters: number;
}

export class SwavObjective implements AuxObjective {
  readonly name = 'swav';
  readonly ownNames = [...mlp2Names('swav'), 'swav.prototypes'];
  readonly optimizerKey = 'swav';
  readonly metricPrefix = 'aux' as const;
  private readonly sinkhorn: SinkhornOptions;

  constructor(private readonly prototypes: tf.Variable, private readonly temperature: number, o: SinkhornOptions) {
    this.sinkhorn = o;
  }

  /** The projection `swav.*` (latent -> hidden, ReLU -> D), then the prototypes [K, D]: standard normal rows scaled to unit norm. */
  static addParams(params: ParamMap, latentDim: number, v: SwavValues, rng: Rng): tf.Variable {
    addMlp2(params, 'swav', latentDim, v.auxHiddenDim, v.auxProjDim, rng);
    const k = v.auxPrototypes;
    const d = v.auxProjDim;
    const normal = Float32Array.from({ length: k * d }, () => rng.normal());
    const prototypes = variableFrom(tf.tidy(() => l2Normalize(tf.tensor2d(normal, [k, d]))));
    params.set('swav.prototypes', prototypes);
    return prototypes;
  }

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const P = inp.params;
    const h1 = mlp2(latent(inp.uA, P, 'critic'), P, 'swav');
    const h2 = mlp2(latent(inp.uP!, P, 'critic'), P, 'swav');
    const { loss, accuracy } = swavLoss(h1, h2, P.get('swav.prototypes') as tf.Tensor2D, this.temperature, this.sinkhorn);
    record('auxAccuracy', accuracy);
    return loss;
  }

  /** The prototypes back on the unit sphere after the Adam step (the paper normalises them every iteration). */
  async afterStep(): Promise<void> {
    tf.tidy(() => this.prototypes.assign(l2Normalize(this.prototypes as tf.Tensor2D)));
  }
}

export function create({ latentDim, options, params, rng }: AuxCreateContext<SwavValues>): SwavObjective {
  const prototypes = SwavObjective.addParams(params, latentDim, options, rng);
  return new SwavObjective(prototypes, options.auxTemperature, { epsilon: options.auxSinkhornEpsilon, iterations: options.auxSinkhornIters });
}

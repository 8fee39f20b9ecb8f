// The CURL family as the agent runs it (see curl.ts for the three names):
// queries z_a = the online encoder on the anchor crop, keys z_k = the momentum
// encoder on the positive crop (no gradient), logits z_a W z_k^T; with a queue
// of K > 0, the keys of the last K updates are appended as extra negatives
// (columns after the batch's own keys).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/core/rng.js';
import { uniform01 } from '../init.js';
import * as L from '../losses.js';
import { variableFrom } from '../params.js';
import type { ParamMap } from '../params.js';
import type { TensorRecord } from '../tensor-record.js';
import type { AuxCreateContext } from './descriptor.js';
import { latent } from '../networks.js';
import { KeyQueue } from './key-queue.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';

export interface InfoNceOptions {
  /** Class prior tau+ of the debiased estimator (0 = no debiasing). */
  readonly tauPlus: number;
  /** Concentration beta of the hard-negative weights (0 = uniform weights). */
  readonly beta: number;
}

/**
 * Mean over rows i of  log(pos_i + Ng_i) - s_ii,  where s = logits [N, M]
 * (row i's positive is column i; every other column j != i is a negative,
 * Nn = M - 1 of them), pos_i = exp(s_ii), neg_ij = exp(s_ij), and
 *
 *   w_ij = Nn exp(beta s_ij) / sum_{k != i} exp(beta s_ik)       (Robinson et al.; all 1 when beta = 0)
 *   Ng_i = max( (sum_{j != i} w_ij neg_ij - tau+ Nn pos_i) / (1 - tau+),  Nn min_{j != i} neg_ij )
 *
 * which is Chuang et al.'s debiased estimator with Robinson et al.'s
 * importance weights (their released code's `reweight_neg`; the weights are
 * not detached there, nor here). The clamp: both papers floor Ng at
 * Nn e^{-1/t}, the smallest value exp(cos / t) can take; CURL's bilinear
 * logits are unbounded, so we floor at the smallest negative actually seen,
 * Nn min_j neg_ij, which keeps Ng positive and, unlike a constant, is
 * invariant to the row-max shift of the logits. Where it binds, its gradient
 * goes to that one smallest negative (and the positive, through log(pos + Ng));
 * the papers' constant floor sends the negatives none. With tau+ = 0 the floor
 * never binds (a weighted mean is >= the minimum), and tau+ = beta = 0 is
 * CURL's cross-entropy.
 *
 * Computed stably, because bilinear logits have no bound: every exponent is
 * shifted so that its largest term is exp(0) = 1 (the logits by their row max
 * c_i, which every term above is invariant to; the weights' exponent by the
 * row's largest negative, which cancels in their ratio), and the diagonal is
 * pushed to -1e30 before the exp so that it contributes exactly 0 to the
 * negatives' sums and min/max, value and gradient alike (a 0 mask after the exp
 * would multiply an overflowed exp(beta s_ii) and give NaN). Without the shift,
 * exp(beta s) underflows to 0 / 0 in float32 once beta x the positive's margin
 * passes about 104 (about 53 for the gradient, which divides by the square of
 * the sum).
 */
export function debiasedInfoNce(logits: tf.Tensor2D, o: InfoNceOptions): tf.Scalar {
  return tf.tidy(() => {
    const [n, m] = logits.shape;
    const nn = m - 1;
    const diag = tf.oneHot(tf.range(0, n, 1, 'int32') as tf.Tensor1D, m) as tf.Tensor2D;
    const s = tf.sub(logits, tf.max(logits, 1, true));
    const sPos = tf.sum(tf.mul(s, diag), 1);
    const pos = tf.exp(sPos);
    // every negative <= 0, the diagonal far below them all
    const sNeg = tf.sub(s, tf.mul(diag, MASKED));
    const neg = tf.exp(sNeg);
    let weighted: tf.Tensor;
    if (o.beta > 0) {
      // the row's largest negative weight is exp(0) = 1, so their sum is >= 1 and never underflows to 0
      const top = tf.max(sNeg, 1, true);
      const imp = tf.exp(tf.mul(tf.sub(sNeg, top), o.beta));
      weighted = tf.div(tf.mul(tf.sum(tf.mul(imp, neg), 1), nn), tf.sum(imp, 1));
    } else {
      weighted = tf.sum(neg, 1);
    }
    const raw = tf.div(tf.sub(weighted, tf.mul(pos, o.tauPlus * nn)), 1 - o.tauPlus);
    // the smallest negative of each row (the positive's column pushed out of the min)
    const minNeg = tf.min(tf.add(s, tf.mul(diag, MASKED)), 1);
    const ng = tf.maximum(raw, tf.mul(tf.exp(minNeg), nn));
    return tf.mean(tf.sub(tf.log(tf.add(pos, ng)), sPos)) as tf.Scalar;
  });
}

/**
 * How far the diagonal is moved out of the negatives' sums, min and max: far beyond any logit, yet
 * finite in float32 even times beta (<= 100), so that no inf - inf or 0 x inf can appear.
 */
const MASKED = 1e30;

export interface CurlOptions extends InfoNceOptions {
  readonly latentDim: number;
  /** Keys kept from past updates as extra negatives (0 = in-batch only). */
  readonly queue: number;
}

/** The option values the implementation reads; a member that reads no tau+ or beta runs with 0 (CURL's cross-entropy term). */
export interface CurlFamilyValues {
  readonly auxQueue: number;
  readonly auxTauPlus?: number;
  readonly auxBeta?: number;
}

export class CurlObjective implements AuxObjective {
  readonly ownNames = ['curl.W'] as const;
  readonly optimizerKey = 'curl';
  readonly metricPrefix = 'curl' as const;
  private readonly queue: KeyQueue;

  constructor(readonly name: string, private readonly o: CurlOptions) {
    this.queue = new KeyQueue(o.queue, o.latentDim, 'curl');
  }

  /** W ~ U[0, 1) as torch.rand in the reference, drawn from the init stream right after the actor's parameters. */
  static addParams(params: ParamMap, latentDim: number, rng: Rng): void {
    params.set('curl.W', variableFrom(tf.tensor2d(uniform01(latentDim * latentDim, rng), [latentDim, latentDim])));
  }

  /** The keys: this batch's, then the queue's (oldest slot order, as stored). */
  private keys(zPos: tf.Tensor2D): tf.Tensor2D {
    const q = this.queue.tensor();
    return q ? (tf.concat([zPos, q], 0) as tf.Tensor2D) : zPos;
  }

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const zPos = latent(inp.uPosT!, inp.fixed, 'target.critic');
    const zA = latent(inp.uA, inp.params, 'critic');
    const logits = L.curlLogits(zA, inp.params.get('curl.W') as tf.Tensor2D, this.keys(zPos));
    record('curlAccuracy', L.curlAccuracy(logits));
    const plain = this.o.tauPlus === 0 && this.o.beta === 0;
    return plain ? L.curlLoss(logits) : debiasedInfoNce(logits, this.o);
  }

  async afterStep(inp: AuxInputs): Promise<void> {
    await this.queue.pushKeys(inp);
  }

  /** The queue as it stands (rows beyond `size` are zeros). */
  queueSnapshot(): { keys: Float32Array; size: number; ptr: number } {
    return this.queue.snapshot();
  }

  async getState(): Promise<Record<string, TensorRecord>> {
    return this.queue.getState();
  }

  checkState(state: Record<string, TensorRecord> | undefined): void {
    this.queue.checkState(state);
  }

  setState(state: Record<string, TensorRecord> | undefined): void {
    this.queue.setState(state);
  }
}

export function create({ name, latentDim, options, params, rng }: AuxCreateContext<CurlFamilyValues>): CurlObjective {
  CurlObjective.addParams(params, latentDim, rng);
  return new CurlObjective(name, { latentDim, queue: options.auxQueue, tauPlus: options.auxTauPlus ?? 0, beta: options.auxBeta ?? 0 });
}

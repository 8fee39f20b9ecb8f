import * as tf from '@tensorflow/tfjs';
import type { AuxName } from '../../src/config/schema.js';
import type { Rng } from '../../src/core/rng.js';
import { orthogonalFast } from '../init.js';
import { mlpForward } from '../networks.js';
import { layerNorm } from '../ops.js';
import { mlpNames, mlpParams, variableFrom } from '../params.js';
import type { ParamMap } from '../params.js';
import type { TensorRecord } from '../tensor-record.js';

/**
 * One auxiliary representation objective, as the agent sees it. The agent
 * runs the encoder passes an objective `needs` (on the conv engine), calls
 * `loss` inside a gradient tape whose inputs are the online encoder outputs
 * and `trainable` parameters, sends the encoder-output gradients back through
 * the trunk, and steps one Adam over the encoder + the objective's own
 * parameters. Everything specific to an objective lives in its module here.
 *
 * Encoder outputs `u` are the critic head's dense output BEFORE its LayerNorm
 * ([N, L]); the latent an objective works on is z = LayerNorm(u) with the
 * critic's (online) or the critic target's (momentum) LayerNorm, as CURL's.
 */
export type AuxObjectiveName = Exclude<AuxName, 'none'>;

export interface AuxNeeds {
  /** The online encoder on the positive crop, with gradient (a second anchor-style pass). */
  readonly onlinePos: boolean;
  /** The momentum (critic target) encoder on the positive crop, no gradient. */
  readonly targetPos: boolean;
  /** The momentum encoder on the anchor crop, no gradient. */
  readonly targetObs: boolean;
}

export interface AuxInputs {
  /** Online encoder output on the anchor crop [N, L] (differentiable). */
  readonly uA: tf.Tensor2D;
  /** Online encoder output on the positive crop (differentiable), when needs.onlinePos. */
  readonly uP: tf.Tensor2D | null;
  /** Momentum encoder outputs (constants), when needed. */
  readonly uPosT: tf.Tensor2D | null;
  readonly uObsT: tf.Tensor2D | null;
  /** The trainable names (critic.ln.* and the objective's own), differentiable. */
  readonly params: ReadonlyMap<string, tf.Tensor>;
  /** All other parameters (read-only: the target encoder's LayerNorm, target heads). */
  readonly fixed: ReadonlyMap<string, tf.Tensor>;
}

/** Receives a metric scalar computed inside the loss (the caller keeps and disposes it). */
export type MetricSink = (name: string, value: tf.Scalar) => void;

export interface AuxObjective {
  readonly name: AuxObjectiveName;
  readonly needs: AuxNeeds;
  /** Parameters the objective's Adam trains besides the conv stack and the critic's encoder head. */
  readonly ownNames: readonly string[];
  /** Key of its Adam in a checkpoint's optimizers ('curl' for the CURL family, as before). */
  readonly optimizerKey: string;
  /** Metric names are `${prefix}Loss`, `${prefix}Accuracy`, ... ('curl' for the CURL family, else 'aux'). */
  readonly metricPrefix: 'curl' | 'aux';
  /** The loss, a scalar, differentiable in inputs.uA, inputs.uP and inputs.params. */
  loss(inputs: AuxInputs, record: MetricSink): tf.Scalar;
  /** After the Adam step (CURL's queue takes this update's keys). */
  afterStep?(inputs: AuxInputs): Promise<void>;
  /** target <- tau * online + (1 - tau) * target for the objective's target heads (BYOL), with the target encoder. */
  ema?(params: ParamMap, tau: number): void;
  /** State that is not a variable (the queue); setState(undefined) when a checkpoint has none. */
  getState?(): Promise<Record<string, TensorRecord>>;
  setState?(state: Record<string, TensorRecord> | undefined): void;
  dispose?(): void;
}

/** Sizes the objectives need. */
export interface AuxShape {
  readonly latentDim: number;
  readonly hiddenDim: number;
  readonly projDim: number;
}

/** Adds a 2-layer MLP `prefix.w0,b0,w1,b1` ([n, h] relu [h, m]) initialised as the agent's MLPs (orthogonal, zero bias). */
export function addMlp2(params: ParamMap, prefix: string, n: number, h: number, m: number, rng: Rng): void {
  for (const [i, a, b] of [[0, n, h], [1, h, m]] as const) {
    params.set(`${prefix}.w${i}`, variableFrom(tf.tensor2d(orthogonalFast(a, b, rng), [a, b])));
    params.set(`${prefix}.b${i}`, variableFrom(tf.zeros([b])));
  }
}
export function mlp2Names(prefix: string): string[] {
  return mlpNames(prefix, 2);
}
export function mlp2(x: tf.Tensor2D, params: ReadonlyMap<string, tf.Tensor>, prefix: string): tf.Tensor2D {
  return mlpForward(x, mlpParams(params, prefix, 2));
}

/** The latent of an encoder output: the LayerNorm `prefix.ln.*` from `params`. */
export function latent(u: tf.Tensor2D, params: ReadonlyMap<string, tf.Tensor>, prefix: string): tf.Tensor2D {
  const g = params.get(`${prefix}.ln.g`);
  const b = params.get(`${prefix}.ln.b`);
  if (!g || !b) throw new Error(`agent: aux: missing LayerNorm parameters of "${prefix}"`);
  return layerNorm(u, g as tf.Tensor1D, b as tf.Tensor1D);
}

/**
 * Rows scaled to unit L2 norm: x / max(||x||, 1e-12), as torch.nn.functional.normalize. Written as
 * x * rsqrt(max(sum x^2, 1e-24)) so that an all-zero row (a black frame through zero biases) has a
 * zero gradient rather than NaN: sqrt's derivative at 0 is infinite, and tf.norm's gradient would
 * carry it even where the max takes the constant.
 */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-24))) as tf.Tensor2D);
}

/**
 * Wang & Isola (2020)'s alignment and uniformity of two views' embeddings,
 * on their L2-normalised rows: alignment = mean_i ||a_i - b_i||^2,
 * uniformity = log mean_{i != j} exp(-2 ||a_i - a_j||^2) over the first view.
 */
export function alignmentUniformity(a: tf.Tensor2D, b: tf.Tensor2D): { alignment: tf.Scalar; uniformity: tf.Scalar } {
  return tf.tidy(() => {
    const na = l2Normalize(a);
    const nb = l2Normalize(b);
    const alignment = tf.mean(tf.sum(tf.square(tf.sub(na, nb)), 1)) as tf.Scalar;
    const n = na.shape[0];
    // ||a_i - a_j||^2 = 2 - 2 a_i.a_j for unit rows
    const sq = tf.sub(2, tf.mul(tf.matMul(na, tf.transpose(na)), 2));
    const off = tf.sub(1, tf.eye(n));
    const mean = tf.div(tf.sum(tf.mul(tf.exp(tf.mul(sq, -2)), off)), Math.max(1, n * (n - 1)));
    return { alignment, uniformity: tf.log(mean) as tf.Scalar };
  });
}

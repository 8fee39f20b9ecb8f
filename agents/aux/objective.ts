// One auxiliary representation objective, as the agent runs it. The agent
// runs the encoder passes an objective `needs` (on the conv engine), calls
// `loss` inside a gradient tape whose inputs are the online encoder outputs
// and the `trainable` parameters, sends the encoder-output gradients back
// through the trunk, and steps one Adam over the encoder + the objective's own
// parameters. What an objective is (its options, costs and metrics) is its
// descriptor (descriptor.ts); this is the running side, built by its `load`.
//
// Encoder outputs `u` are the critic head's dense output BEFORE its LayerNorm
// ([N, L]); the latent an objective works on is z = LayerNorm(u) with the
// critic's (online) or the critic target's (momentum) LayerNorm, as CURL's.
import type * as tf from '@tensorflow/tfjs';
import type { ParamMap } from '../params.js';
import type { TensorRecord } from '../tensor-record.js';

export interface AuxNeeds {
  /** The online encoder on the positive crop, with gradient (a second anchor-style pass). */
  readonly onlinePos: boolean;
  /** The momentum (critic target) encoder on the positive crop, no gradient. */
  readonly targetPos: boolean;
  /** The momentum encoder on the anchor crop, no gradient. */
  readonly targetObs: boolean;
  /** The replay index of each batch row (batch.indices, as AuxInputs.indices); absent means false. */
  readonly replayIndices?: boolean;
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
  /** Each row's global transition index in the replay (slot = index % capacity), when needs.replayIndices. */
  readonly indices?: Float64Array;
}

/** Receives a metric scalar computed inside the loss (the caller keeps and disposes it). */
export type MetricSink = (name: string, value: tf.Scalar) => void;

export interface AuxObjective {
  /** Its descriptor's name. */
  readonly name: string;
  /** Parameters the objective's Adam trains besides the conv stack and the critic's encoder head. */
  readonly ownNames: readonly string[];
  /** Key of its Adam in a checkpoint's optimizers: 'curl' for the CURL family, else its name. */
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
  /** Throws AgentError for a state setState would refuse, changing nothing (an objective with setState has it). */
  checkState?(state: Record<string, TensorRecord> | undefined): void;
  setState?(state: Record<string, TensorRecord> | undefined): void;
  dispose?(): void;
}

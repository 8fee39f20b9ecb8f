import type { Rng } from '../src/core/rng.js';
import type { AdamState } from './adam.js';
import type { Precision } from './native/addon.js';
import type { TensorRecord } from './tensor-record.js';

/**
 * The hyperparameters the agent reads, and only those. Their meaning, valid
 * ranges and defaults are the config schema's (src/config/schema.ts), which
 * the agent does not import; src/config/agent-config.ts checks at compile time
 * that the schema's Config supplies every field here with a compatible type.
 * The optional fields may be left out (tests and benchmarks build configs by
 * hand); the code that reads one says what it uses in its place.
 */
export interface AgentConfig {
  /** an objective's name in agents/aux/registry.ts ('none' for pixel SAC) */
  aux: string;
  // networks
  hiddenDim: number;
  latentDim: number;
  numConvLayers: number;
  numFilters: number;
  actorLogStdMin: number;
  actorLogStdMax: number;
  // optimisation
  lr: number;
  beta1: number;
  alphaLr: number;
  alphaBeta1: number;
  initTemperature: number;
  discount: number;
  criticTau: number;
  encoderTau: number;
  actorUpdateFreq: number;
  criticTargetUpdateFreq: number;
  microBatch: number;
  // aux objective options (agents/aux)
  auxTemperature?: number;
  auxLambda?: number;
  auxTauPlus?: number;
  auxBeta?: number;
  auxQueue?: number;
  auxHiddenDim?: number;
  auxProjDim?: number;
  auxMargin?: number;
  auxAlpha?: number;
  auxL2Reg?: number;
  auxNoiseSamples?: number;
  auxSnnTemperature?: number;
  auxBankNegatives?: number;
  auxBankMomentum?: number;
  auxProximal?: number;
  auxHardNegatives?: number;
  auxMixes?: number;
  auxQueryMixes?: number;
  auxPrototypes?: number;
  auxSinkhornEpsilon?: number;
  auxSinkhornIters?: number;
  curlEncoderSteps?: number;
  /** transitions the replay keeps (memory-bank keeps one bank slot per replay slot; it refuses to start without it) */
  replayCapacity?: number;
}

export interface AgentSpec {
  /** [crop, crop, 3 * frameStack] */
  readonly obsShape: readonly [number, number, number];
  readonly actionDim: number;
}

/**
 * Scalars of one update. Always: criticLoss, qMean, targetQ, batchReward,
 * alpha, criticGradNorm. On actor steps: actorLoss, alphaLoss, entropy,
 * logPi, actorGradNorm. With an aux objective, the names its descriptor's
 * `metrics` lists (agents/aux/registry.ts).
 */
export type UpdateMetrics = Record<string, number>;

/** Everything needed to continue training exactly: plain typed arrays and JSON-able fields. */
export interface AgentState {
  version: 1;
  aux: AgentConfig['aux'];
  obsShape: number[];
  actionDim: number;
  params: Record<string, TensorRecord>;
  optimizers: Record<string, AdamState>;
  rng: ReturnType<Rng['getState']>;
  updates: number;
  /** What the encoder trunk computed in when the state was saved (absent in states saved before precisions existed: fp32). */
  precision?: Precision;
  /** State of the aux objective that is not a variable (CURL's key queue); absent when it has none. */
  auxState?: Record<string, TensorRecord>;
}

export class AgentError extends Error {
  constructor(message: string) {
    super(`agent: ${message}`);
    this.name = 'AgentError';
  }
}

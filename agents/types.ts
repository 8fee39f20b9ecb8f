import type { Config } from '../src/config/schema.js';
import type { AdamState } from './adam.js';
import type { Rng } from '../src/core/rng.js';

export type AgentConfig = Pick<
  Config,
  | 'aux' | 'hiddenDim' | 'latentDim' | 'numConvLayers' | 'numFilters' | 'lr' | 'beta1' | 'alphaLr' | 'alphaBeta1'
  | 'initTemperature' | 'discount' | 'criticTau' | 'encoderTau' | 'actorUpdateFreq' | 'criticTargetUpdateFreq'
  | 'microBatch' | 'actorLogStdMin' | 'actorLogStdMax'
> & Partial<Pick<Config, 'convWorkers' | 'convEngine' | 'auxTemperature' | 'auxLambda' | 'auxTauPlus' | 'auxBeta' | 'auxQueue' | 'auxHiddenDim' | 'auxProjDim' | 'curlEncoderSteps'>>;

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

export interface TensorRecord {
  shape: number[];
  data: Float32Array;
}

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
  /** State of the aux objective that is not a variable (CURL's key queue); absent when it has none. */
  auxState?: Record<string, TensorRecord>;
}

export class AgentError extends Error {
  constructor(message: string) {
    super(`agent: ${message}`);
    this.name = 'AgentError';
  }
}

import type { Config } from '../src/config/schema.js';
import type { AdamState } from './adam.js';
import type { Rng } from '../src/rng.js';

export type AgentConfig = Pick<
  Config,
  | 'aux' | 'hiddenDim' | 'latentDim' | 'numConvLayers' | 'numFilters' | 'lr' | 'beta1' | 'alphaLr' | 'alphaBeta1'
  | 'initTemperature' | 'discount' | 'criticTau' | 'encoderTau' | 'actorUpdateFreq' | 'criticTargetUpdateFreq'
  | 'microBatch' | 'actorLogStdMin' | 'actorLogStdMax'
> & Partial<Pick<Config, 'convWorkers' | 'convEngine'>>;

export interface AgentSpec {
  /** [crop, crop, 3 * frameStack] */
  readonly obsShape: readonly [number, number, number];
  readonly actionDim: number;
}

/**
 * Scalars of one update. Always: criticLoss, qMean, targetQ, batchReward,
 * alpha, criticGradNorm. On actor steps: actorLoss, alphaLoss, entropy,
 * logPi, actorGradNorm. With aux 'curl': curlLoss, curlAccuracy, curlGradNorm.
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
}

export class AgentError extends Error {
  constructor(message: string) {
    super(`agent: ${message}`);
    this.name = 'AgentError';
  }
}

import { CurlSacAgent } from './curl-sac.js';
import type { AgentConfig, AgentSpec } from './types.js';

export { CurlSacAgent, agentFeatureDim } from './curl-sac.js';
export type { AgentConfig, AgentSpec, AgentState, UpdateMetrics, TensorRecord } from './types.js';
export { AgentError } from './types.js';
export { coreShareWorkers, defaultConvWorkers, singleThreadedBackend } from './tower/defaults.js';
export type { AdamState } from './adam.js';

/** Build an agent whose initial weights and exploration noise are fixed by `seed`. */
export function createAgent(config: AgentConfig, spec: AgentSpec, seed: number): CurlSacAgent {
  return new CurlSacAgent(config, spec, seed);
}

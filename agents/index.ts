export { CurlSacAgent, agentFeatureDim } from './curl-sac.js';
export type { AgentCompute } from './curl-sac.js';
export type { AgentConfig, AgentSpec, AgentState, UpdateMetrics } from './types.js';
export type { TensorRecord } from './tensor-record.js';
export { AgentError } from './types.js';
export { coreShareWorkers, defaultConvWorkers, singleThreadedBackend } from './tower/defaults.js';
export type { AdamState } from './adam.js';


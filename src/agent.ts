// Builds an agent for this process: its encoder passes go to the conv engine
// the config asks for, resolved against what is installed here
// (src/conv-engine.ts), with the threads the config gives it.
import { CurlSacAgent } from '../agents/index.js';
import type { AgentConfig, AgentSpec } from '../agents/index.js';
import type { HeadEngineName } from '../agents/head-kernels.js';
import { activeBackendName } from './backend.js';
import type { ConvEngineRequest, PrecisionRequest } from './conv-engine.js';
import { agentCompute } from './conv-engine.js';

export interface AgentBuildConfig extends AgentConfig {
  /** auto (the default), libtorch or tfjs */
  readonly convEngine?: ConvEngineRequest;
  /** threads beyond the agent's own: libtorch's intra-op threads - 1, or the tfjs engine's worker threads */
  readonly convWorkers?: number;
  /** fp32 (the default), bf16 or auto: what the libtorch engine's trunk computes in */
  readonly precision?: PrecisionRequest;
  /** where the MLP heads, Adam and the EMA run: the conv engine's when left out (benches compare the two) */
  readonly headEngine?: HeadEngineName;
}

/** An agent whose initial weights and exploration noise are fixed by `seed`. */
export function createAgent(config: AgentBuildConfig, spec: AgentSpec, seed: number): CurlSacAgent {
  const compute = agentCompute(config.convEngine ?? 'auto', config.convWorkers, activeBackendName(), config.precision ?? 'fp32');
  return new CurlSacAgent(config, spec, seed, config.headEngine ? { ...compute, heads: config.headEngine } : compute);
}

import { auxDefaults, curlFamily } from '../../src/config/schema.js';
import { AgentError } from '../types.js';
import type { Rng } from '../../src/core/rng.js';
import type { ParamMap } from '../params.js';
import type { AgentConfig } from '../types.js';
import { BarlowObjective, barlowLambdaEff } from './barlow.js';
import { ByolObjective } from './byol.js';
import { CurlObjective } from './curl.js';
import type { AuxObjective, AuxShape } from './objective.js';
import { SimclrObjective } from './simclr.js';

export type { AuxInputs, AuxNeeds, AuxObjective, AuxObjectiveName, MetricSink } from './objective.js';

/**
 * The aux objective of a config, its parameters added to `params` from `rng`
 * (called right after the agent's own parameters, so CURL's W is drawn
 * exactly where it always was); null for 'none', which adds nothing.
 */
export function createAuxObjective(config: AgentConfig, params: ParamMap, rng: Rng): AuxObjective | null {
  const shape: AuxShape = { latentDim: config.latentDim, hiddenDim: config.auxHiddenDim ?? auxDefaults.hiddenDim, projDim: config.auxProjDim ?? auxDefaults.projDim };
  const queue = config.auxQueue ?? 0;
  if (!Number.isInteger(queue) || queue < 0) throw new AgentError(`auxQueue must be a whole number >= 0, got ${queue}`);
  if (queue > 0 && !(curlFamily as readonly string[]).includes(config.aux)) {
    throw new AgentError(`auxQueue ${queue} adds negatives to CURL's InfoNCE: it needs aux ${curlFamily.join(', ')}, not '${config.aux}'`);
  }
  const temperature = config.auxTemperature ?? auxDefaults.temperature;
  if (!(temperature > 0)) throw new AgentError(`auxTemperature must be > 0, got ${temperature}`);
  const tau = config.auxTauPlus;
  if (tau !== undefined && !(tau >= 0 && tau < 1)) throw new AgentError(`auxTauPlus must be in [0, 1), got ${tau}`);
  switch (config.aux) {
    case 'none':
      return null;
    case 'curl':
    case 'curl-debiased':
    case 'curl-hard': {
      CurlObjective.addParams(params, config.latentDim, rng);
      const tauPlus = config.auxTauPlus ?? (config.aux === 'curl-debiased' ? auxDefaults.tauPlusDebiased : 0);
      const beta = config.aux === 'curl-hard' ? (config.auxBeta ?? auxDefaults.beta) : 0;
      return new CurlObjective(config.aux, { latentDim: config.latentDim, queue, tauPlus: config.aux === 'curl' ? 0 : tauPlus, beta });
    }
    case 'simclr':
      SimclrObjective.addParams(params, shape, rng);
      return new SimclrObjective(temperature);
    case 'byol':
      ByolObjective.addParams(params, shape, rng);
      return new ByolObjective();
    case 'barlow':
      BarlowObjective.addParams(params, shape, rng);
      return new BarlowObjective(barlowLambdaEff(config.auxLambda ?? auxDefaults.lambda, shape.projDim));
  }
}

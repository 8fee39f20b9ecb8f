// The aux objective an agent trains, built from the registry (registry.ts).
// Importing this module imports every registered objective's tfjs side (a
// top-level await over their `load`), so that createAuxObjective stays
// synchronous inside the agent's constructor; the schema, help and limits
// import registry.ts instead and load no tfjs.
import type { Rng } from '../../src/core/rng.js';
import type { ParamMap } from '../params.js';
import { AgentError } from '../types.js';
import type { AgentConfig } from '../types.js';
import type { AuxImplementation } from './descriptor.js';
import type { AuxObjective } from './objective.js';
import { auxObjective, auxObjectives, resolveAuxOptions, unreadAuxOptions } from './registry.js';
import type { UnreadAuxOption } from './registry.js';

export type { AuxInputs, AuxNeeds, AuxObjective, MetricSink } from './objective.js';

const implementations = new Map<string, AuxImplementation>(
  await Promise.all(auxObjectives().map(async (d) => [d.name, await d.load()] as const)),
);

function unreadMessage(u: UnreadAuxOption, aux: string): string {
  return u.kind === 'optional'
    ? `${u.field} is read only by aux ${u.readers.join(' or ')}, not '${aux}'`
    : `${u.field} ${JSON.stringify(u.value)} ${u.reason}: it needs aux ${u.readers.join(', ')}, not '${aux}'`;
}

/**
 * The aux objective of a config, its parameters added to `params` from `rng`
 * (called right after the agent's own parameters, so that every objective's
 * parameters are drawn after the agent's, in the order the objective adds
 * them); null for an objective that trains nothing ('none').
 */
export function createAuxObjective(config: AgentConfig, params: ParamMap, rng: Rng): AuxObjective | null {
  const descriptor = auxObjective(config.aux);
  const unread = unreadAuxOptions(config);
  if (unread.length > 0) throw new AgentError(unread.map((u) => unreadMessage(u, config.aux)).join('; '));
  // loaded above: that read sealed the registry, so no objective was added after it
  const implementation = implementations.get(descriptor.name)!;
  return implementation.create({
    name: descriptor.name, latentDim: config.latentDim, options: resolveAuxOptions(descriptor, config), params, rng, replayCapacity: config.replayCapacity,
  });
}

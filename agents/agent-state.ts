// An agent's checkpoint state: every variable, every optimiser's moments, the
// noise stream and the update count, as plain typed arrays. restoreAgentState
// checks the whole state against the agent before it changes anything, so a
// state that does not fit leaves the agent as it was.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../src/core/rng.js';
import type { Adam, AdamState } from './adam.js';
import type { AuxObjective } from './aux/index.js';
import type { Precision } from './native/addon.js';
import type { ParamMap } from './params.js';
import type { AgentSpec, AgentState } from './types.js';
import { AgentError } from './types.js';

/** What of an agent a checkpoint holds. Optimisers are keyed as they are saved; a null one is absent in this agent. */
export interface AgentParts {
  readonly auxName: AgentState['aux'];
  readonly spec: AgentSpec;
  readonly params: ParamMap;
  readonly optimizers: ReadonlyArray<readonly [string, Adam | null]>;
  readonly aux: AuxObjective | null;
  /** What the trunk computed in; recorded, not required to match on restore (a run may resume in another precision). */
  readonly precision: Precision;
}

export async function captureAgentState(parts: AgentParts, rng: Rng, updates: number): Promise<AgentState> {
  const params: AgentState['params'] = {};
  for (const [name, v] of parts.params) params[name] = { shape: [...v.shape], data: (await v.data()) as Float32Array };
  const optimizers: Record<string, AdamState> = {};
  for (const [key, opt] of parts.optimizers) if (opt) optimizers[key] = await opt.getState();
  const auxState = parts.aux?.getState ? await parts.aux.getState() : {};
  return {
    version: 1,
    aux: parts.auxName,
    obsShape: [...parts.spec.obsShape],
    actionDim: parts.spec.actionDim,
    params,
    optimizers,
    rng: rng.getState(),
    updates,
    precision: parts.precision,
    ...(Object.keys(auxState).length > 0 ? { auxState } : {}),
  };
}

/** Loads `state` into the parts; returns the noise stream and update count to continue with. */
export function restoreAgentState(parts: AgentParts, state: AgentState): { rng: Rng; updates: number } {
  const { spec } = parts;
  if (state.version !== 1) throw new AgentError(`setState: unsupported state version ${String(state.version)}, expected 1`);
  if (state.aux !== parts.auxName) throw new AgentError(`setState: state is for aux '${state.aux}', this agent is '${parts.auxName}'`);
  if (state.actionDim !== spec.actionDim || state.obsShape.join() !== spec.obsShape.join()) {
    throw new AgentError(`setState: state is for obs [${state.obsShape}] / ${state.actionDim} actions, this agent has [${spec.obsShape}] / ${spec.actionDim}`);
  }
  const extra = Object.keys(state.params).filter((n) => !parts.params.has(n));
  if (extra.length) throw new AgentError(`setState: unknown parameters ${extra.join(', ')}`);
  for (const [name, v] of parts.params) {
    const rec = state.params[name];
    if (!rec) throw new AgentError(`setState: missing parameter "${name}"`);
    if (rec.data.length !== v.size || rec.shape.join() !== v.shape.join()) {
      throw new AgentError(`setState: parameter "${name}" has shape [${rec.shape}], expected [${v.shape}]`);
    }
  }
  for (const [key, opt] of parts.optimizers) {
    if (opt && !state.optimizers[key]) throw new AgentError(`setState: missing optimizer state "${key}"`);
  }
  // validates (and takes) the objective's non-variable state before any variable changes
  if (parts.aux?.setState) parts.aux.setState(state.auxState);
  else if (state.auxState && Object.keys(state.auxState).length > 0) {
    throw new AgentError(`setState: state has aux state ${Object.keys(state.auxState).join(', ')} this agent does not use`);
  }
  for (const [name, v] of parts.params) {
    const rec = state.params[name]!;
    tf.tidy(() => v.assign(tf.tensor(rec.data, v.shape, 'float32')));
  }
  for (const [key, opt] of parts.optimizers) if (opt) opt.setState(state.optimizers[key]!, `setState: optimizer "${key}"`);
  return { rng: Rng.fromState(state.rng), updates: state.updates };
}

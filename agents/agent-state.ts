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
import type { TensorRecord } from './tensor-record.js';
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

/**
 * Throws AgentError saying what is wrong when `state` (as read from a
 * checkpoint: of any shape) is not a state of this agent: its structure, the
 * objective, the spaces, every tensor's shape, every optimiser slot and the
 * objective's own state. Changes nothing, so a caller can check a checkpoint
 * before it lets go of anything it holds.
 */
export function checkAgentState(parts: AgentParts, state: unknown): asserts state is AgentState {
  const { spec } = parts;
  if (typeof state !== 'object' || state === null || Array.isArray(state)) throw new AgentError('setState: the state is not an object');
  const s = state as Record<string, unknown>;
  if (s['version'] !== 1) throw new AgentError(`setState: unsupported state version ${String(s['version'])}, expected 1`);
  if (s['aux'] !== parts.auxName) throw new AgentError(`setState: state is for aux '${String(s['aux'])}', this agent is '${parts.auxName}'`);
  const obsShape = s['obsShape'];
  if (!isShape(obsShape) || s['actionDim'] !== spec.actionDim || obsShape.join() !== spec.obsShape.join()) {
    throw new AgentError(`setState: state is for obs [${String(obsShape)}] / ${String(s['actionDim'])} actions, this agent has [${spec.obsShape}] / ${spec.actionDim}`);
  }
  const params = s['params'];
  if (!isRecord(params)) throw new AgentError('setState: the state has no parameters');
  const extra = Object.keys(params).filter((n) => !parts.params.has(n));
  if (extra.length) throw new AgentError(`setState: unknown parameters ${extra.join(', ')}`);
  for (const [name, v] of parts.params) {
    const rec = params[name];
    if (rec === undefined) throw new AgentError(`setState: missing parameter "${name}"`);
    const problem = tensorRecordProblem(rec, v.shape);
    if (problem) throw new AgentError(`setState: parameter "${name}" ${problem}`);
  }
  const optimizers = s['optimizers'];
  if (!isRecord(optimizers)) throw new AgentError('setState: the state has no optimiser states');
  for (const [key, opt] of parts.optimizers) {
    if (!opt) continue;
    if (optimizers[key] === undefined) throw new AgentError(`setState: missing optimizer state "${key}"`);
    const adam: Adam = opt;
    try {
      adam.checkState(optimizers[key], `setState: optimizer "${key}"`);
    } catch (error) {
      throw new AgentError((error as Error).message);
    }
  }
  const rngProblem = Rng.stateProblem(s['rng']);
  if (rngProblem) throw new AgentError(`setState: the noise generator's state ${rngProblem}`);
  if (!Number.isSafeInteger(s['updates']) || (s['updates'] as number) < 0) throw new AgentError(`setState: update count ${String(s['updates'])} is not a non-negative integer`);
  const auxState = s['auxState'];
  if (auxState !== undefined) {
    if (!isRecord(auxState)) throw new AgentError('setState: the aux state is not an object');
    for (const [name, rec] of Object.entries(auxState)) {
      const problem = tensorRecordProblem(rec);
      if (problem) throw new AgentError(`setState: aux state "${name}" ${problem}`);
    }
  }
  const checkedAux = auxState as Record<string, TensorRecord> | undefined;
  if (parts.aux?.checkState) parts.aux.checkState(checkedAux);
  else if (checkedAux && Object.keys(checkedAux).length > 0) {
    throw new AgentError(`setState: state has aux state ${Object.keys(checkedAux).join(', ')} this agent does not use`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
}

/** Why `rec` is not a tensor record (of `shape`, when given), or null when it is one. */
function tensorRecordProblem(rec: unknown, shape?: readonly number[]): string | null {
  if (!isRecord(rec)) return 'is not a tensor record';
  const { shape: recShape, data } = rec;
  if (!isShape(recShape)) return 'has no valid shape';
  if (!(data instanceof Float32Array)) return 'has no float32 data';
  if (shape && recShape.join() !== shape.join()) return `has shape [${recShape}], expected [${shape}]`;
  const size = recShape.reduce((a, b) => a * b, 1);
  if (data.length !== size) return `has ${data.length} values for its shape [${recShape}] (${size})`;
  return null;
}

/** Loads `state` into the parts (checked first: a state that does not fit changes nothing); returns the noise stream and update count to continue with. */
export function restoreAgentState(parts: AgentParts, state: AgentState): { rng: Rng; updates: number } {
  checkAgentState(parts, state);
  parts.aux?.setState?.(state.auxState);
  for (const [name, v] of parts.params) {
    const rec = state.params[name]!;
    tf.tidy(() => v.assign(tf.tensor(rec.data, v.shape, 'float32')));
  }
  for (const [key, opt] of parts.optimizers) if (opt) opt.setState(state.optimizers[key]!, `setState: optimizer "${key}"`);
  return { rng: Rng.fromState(state.rng), updates: state.updates };
}

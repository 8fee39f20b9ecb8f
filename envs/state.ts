/*
 * The true physical state behind an env's pixels, for analysis (the linear
 * probe of an encoder, experiments/probe/): named real numbers, read after a
 * reset or a step. Envs that know their state implement StateReadable; the
 * wrappers are looked through.
 */
import type { Env } from './types.js';

export interface PhysicalState {
  /** One name per value, e.g. `hinge.cos`, `slider.vel`. */
  readonly names: readonly string[];
  readonly values: Float64Array;
}

export interface StateReadable {
  physicalState(): PhysicalState;
}

function isStateReadable(env: unknown): env is StateReadable {
  return typeof (env as Partial<StateReadable>).physicalState === 'function';
}

/** The innermost layer of a wrapper stack that can say its state, or null (a remote env, say). */
export function stateReaderOf(env: Env): StateReadable | null {
  let layer: unknown = env;
  while (layer !== null && typeof layer === 'object') {
    if (isStateReadable(layer)) return layer;
    layer = (layer as { env?: unknown }).env;
  }
  return null;
}

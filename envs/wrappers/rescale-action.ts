import { EnvError } from '../errors.js';
import { boxSpace, type BoxSpace, type Env, type Observation, type ResetOptions, type ResetResult, type Space, type StepResult } from '../types.js';
import { Wrapper } from './wrapper.js';

function at(bound: number | Float64Array, i: number): number {
  return typeof bound === 'number' ? bound : (bound[i] as number);
}

/**
 * Lets the agent act in [low, high]^d while the inner env takes its own Box
 * bounds: a = innerLow + (x - low) / (high - low) * (innerHigh - innerLow).
 */
export class RescaleAction<O = Observation> extends Wrapper<O, Float32Array> {
  private readonly inner: BoxSpace;
  private readonly outer: BoxSpace;

  constructor(
    env: Env<O, Float32Array>,
    readonly low: number,
    readonly high: number,
  ) {
    super(env);
    const space = env.actionSpace;
    if (space.kind !== 'box') throw new EnvError(`RescaleAction: ${env.id} has a ${space.kind} action space, expected a Box`);
    if (!(low < high)) throw new EnvError(`RescaleAction: need low < high, got [${low}, ${high}]`);
    this.inner = space;
    this.outer = boxSpace(space.shape, 'float32', low, high);
  }

  override get actionSpace(): Space {
    return this.outer;
  }

  async reset(options?: ResetOptions): Promise<ResetResult<O>> {
    return this.env.reset(options);
  }

  async step(action: Float32Array): Promise<StepResult<O>> {
    const mapped = new Float32Array(action.length);
    for (let i = 0; i < action.length; i++) {
      const lo = at(this.inner.low, i);
      const hi = at(this.inner.high, i);
      mapped[i] = lo + (((action[i] as number) - this.low) / (this.high - this.low)) * (hi - lo);
    }
    return this.env.step(mapped);
  }
}

/**
 * The agent's tanh policy acts in [-1, 1]^d. An env whose Box bounds differ
 * (Gymnasium's Pendulum-v1 takes torques in [-2, 2]) is wrapped so that
 * [-1, 1] spans its whole range; otherwise part of the range is never used, or
 * half the agent's actions are clipped. Left as it is: an env already in
 * [-1, 1] (dm_control's and the built-in tasks), a non-Box space, and a Box
 * with an infinite bound (no range to map onto; the agent's actions go
 * through unchanged).
 */
export function toAgentActionRange<O = Observation>(env: Env<O, Float32Array>): Env<O, Float32Array> {
  const space = env.actionSpace;
  if (space.kind !== 'box') return env;
  const n = space.shape.reduce((a, b) => a * b, 1);
  let unit = true;
  for (let i = 0; i < n; i++) {
    const [lo, hi] = [at(space.low, i), at(space.high, i)];
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return env;
    if (lo !== -1 || hi !== 1) unit = false;
  }
  return unit ? env : new RescaleAction(env, -1, 1);
}

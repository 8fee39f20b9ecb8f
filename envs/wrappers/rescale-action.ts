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

import { EnvError } from '../errors.js';
import { isSkipRenderCapable, type PhysicsStepResult, type SkipRenderCapable } from '../skip-render.js';
import type { Action, Env, Observation, ResetOptions, ResetResult, StepResult } from '../types.js';
import { Wrapper } from './wrapper.js';

/**
 * Repeats each action `repeat` times and sums the rewards, stopping early if
 * the episode ends. When the inner env can step without rendering, only the
 * last frame (the one the agent sees) is drawn.
 */
export class ActionRepeat<O = Observation, A = Action> extends Wrapper<O, A> implements SkipRenderCapable<O, A> {
  constructor(
    env: Env<O, A>,
    readonly repeat: number,
  ) {
    super(env);
    if (!Number.isInteger(repeat) || repeat < 1) throw new EnvError(`ActionRepeat: repeat must be an integer >= 1, got ${repeat}`);
  }

  async reset(options?: ResetOptions): Promise<ResetResult<O>> {
    return this.env.reset(options);
  }

  async stepWithoutObservation(action: A): Promise<PhysicsStepResult> {
    const inner = this.env;
    let reward = 0;
    let last: PhysicsStepResult | undefined;
    for (let i = 0; i < this.repeat; i++) {
      last = isSkipRenderCapable<O, A>(inner) ? await inner.stepWithoutObservation(action) : await inner.step(action);
      reward += last.reward;
      if (last.terminated || last.truncated) break;
    }
    const end = last as PhysicsStepResult;
    return { reward, terminated: end.terminated, truncated: end.truncated, info: end.info };
  }

  async observe(): Promise<O> {
    if (!isSkipRenderCapable<O, A>(this.env)) throw new EnvError(`${this.id}: inner env cannot render on demand`);
    return this.env.observe();
  }

  async step(action: A): Promise<StepResult<O>> {
    if (!isSkipRenderCapable<O, A>(this.env)) {
      let reward = 0;
      let last: StepResult<O> | undefined;
      for (let i = 0; i < this.repeat; i++) {
        last = await this.env.step(action);
        reward += last.reward;
        if (last.terminated || last.truncated) break;
      }
      return { ...(last as StepResult<O>), reward };
    }
    const r = await this.stepWithoutObservation(action);
    return { ...r, observation: await this.env.observe() };
  }
}

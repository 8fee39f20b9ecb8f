import { EnvError } from '../errors.js';
import type { Action, Env, EnvSnapshot, Observation, ResetOptions, ResetResult, StepResult } from '../types.js';
import { Wrapper } from './wrapper.js';

/**
 * Ends an episode by truncation (never termination: the last state still has
 * a value) after `maxSteps` calls to step. Stepping past the limit is an error
 * until the next reset, so a loop that forgets to reset fails loudly.
 */
export class TimeLimit<O = Observation, A = Action> extends Wrapper<O, A> {
  private elapsed = 0;
  private done = true;

  constructor(
    env: Env<O, A>,
    readonly maxSteps: number,
  ) {
    super(env);
    if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new EnvError(`TimeLimit: maxSteps must be an integer >= 1, got ${maxSteps}`);
  }

  get elapsedSteps(): number {
    return this.elapsed;
  }

  async reset(options?: ResetOptions): Promise<ResetResult<O>> {
    this.elapsed = 0;
    this.done = false;
    return this.env.reset(options);
  }

  async step(action: A): Promise<StepResult<O>> {
    if (this.done) throw new EnvError(`${this.id}: step() after the episode ended; call reset() first`);
    const r = await this.env.step(action);
    this.elapsed++;
    const truncated = r.truncated || (!r.terminated && this.elapsed >= this.maxSteps);
    this.done = r.terminated || truncated;
    return { ...r, truncated };
  }

  protected override ownState(): EnvSnapshot {
    return { elapsed: this.elapsed, done: this.done };
  }
  protected override restoreOwnState(state: EnvSnapshot): void {
    this.elapsed = Number(state['elapsed'] ?? 0);
    this.done = Boolean(state['done']);
  }
}

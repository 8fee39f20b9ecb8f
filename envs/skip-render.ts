import type { Info } from './types.js';

export interface PhysicsStepResult {
  reward: number;
  terminated: boolean;
  truncated: boolean;
  info: Info;
}

/**
 * Envs whose observation is expensive (rendered pixels) can advance without
 * producing one; ActionRepeat uses this so only the frame the agent sees is drawn.
 */
export interface SkipRenderCapable<O, A> {
  stepWithoutObservation(action: A): PhysicsStepResult | Promise<PhysicsStepResult>;
  /** The observation of the current state. */
  observe(): O | Promise<O>;
}

export function isSkipRenderCapable<O, A>(env: unknown): env is SkipRenderCapable<O, A> {
  return (
    typeof env === 'object' &&
    env !== null &&
    typeof (env as Partial<SkipRenderCapable<O, A>>).stepWithoutObservation === 'function' &&
    typeof (env as Partial<SkipRenderCapable<O, A>>).observe === 'function'
  );
}

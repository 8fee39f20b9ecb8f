import type { PhysicsStepResult, SkipRenderCapable } from '../../envs/skip-render.js';
import { boxSpace, type BoxSpace, type Env, type ResetOptions, type ResetResult, type StepResult } from '../../envs/types.js';

/**
 * A 2x2x3 pixel env whose frame encodes its step count (every byte = t mod 256)
 * and whose reward for step t is t; counts renders so tests can see what a
 * wrapper drew.
 */
export class CountingEnv implements Env<Uint8Array, Float32Array>, SkipRenderCapable<Uint8Array, Float32Array> {
  readonly id = 'counting';
  readonly observationSpace: BoxSpace = boxSpace([2, 2, 3], 'uint8', 0, 255);
  readonly actionSpace: BoxSpace = boxSpace([1], 'float32', -1, 1);
  t = 0;
  renders = 0;
  physicsSteps = 0;
  lastAction = NaN;

  constructor(readonly terminateAt = Infinity) {}

  reset(_options?: ResetOptions): ResetResult<Uint8Array> {
    this.t = 0;
    return { observation: this.observe(), info: {} };
  }
  stepWithoutObservation(action: Float32Array): PhysicsStepResult {
    this.t++;
    this.physicsSteps++;
    this.lastAction = action[0] as number;
    return { reward: this.t, terminated: this.t >= this.terminateAt, truncated: false, info: { t: this.t } };
  }
  observe(): Uint8Array {
    this.renders++;
    return new Uint8Array(12).fill(this.t % 256);
  }
  step(action: Float32Array): StepResult<Uint8Array> {
    return { ...this.stepWithoutObservation(action), observation: this.observe() };
  }
  close(): void {}
}

/** CountingEnv whose step counter can be saved and restored, so wrapper stacks above it can be too. */
export class SnapshotCountingEnv extends CountingEnv {
  getSnapshot(): { t: number } {
    return { t: this.t };
  }
  restoreSnapshot(snapshot: { readonly [key: string]: unknown }): void {
    this.t = Number(snapshot['t']);
  }
}

import { describe, expect, it } from 'vitest';
import { ProgressEstimator, formatDuration } from '../../src/loop/progress.js';

/** Drives the estimator with a fake clock: `random` steps cost 0.01 s, steps with an update cost `updateCost`. */
function drive(estimator: ProgressEstimator, from: number, to: number, randomUntil: number, clock: { t: number }, updateCost: number): void {
  for (let step = from + 1; step <= to; step++) {
    clock.t += step - 1 < randomUntil ? 0.01 : updateCost;
    estimator.step(step, step * 4, clock.t);
    if (step > randomUntil) estimator.update();
  }
}

describe('progress estimate', () => {
  it('says the ETA is unknown until updates are timed, then counts their cost for every step left', () => {
    const clock = { t: 0 };
    const estimator = new ProgressEstimator({ totalEnvSteps: 4000, startEnvStep: 0, actionRepeat: 4, randomUntil: 250 });
    drive(estimator, 0, 100, 250, clock, 2);
    expect(estimator.eta()).toBeUndefined();
    expect(estimator.etaText()).toBe('- (timed once updates begin)');
    expect(estimator.updatesPerSec).toBe(0);
    drive(estimator, 100, 300, 250, clock, 2);
    // 700 agent steps left, each with an update of 2 s.
    expect(estimator.eta()).toBeCloseTo(700 * 2, 6);
    expect(estimator.updatesPerSec).toBeCloseTo(0.5, 6);
    expect(estimator.envStepsPerSec).toBeCloseTo(2, 6);
    expect(formatDuration(estimator.eta()!)).toBe('23m20s');
  });

  it('an evaluation between steps does not throw the estimate off', () => {
    const clock = { t: 0 };
    const estimator = new ProgressEstimator({ totalEnvSteps: 1600, startEnvStep: 0, actionRepeat: 4, randomUntil: 0 });
    drive(estimator, 0, 50, 0, clock, 1);
    clock.t += 300; // a long evaluation
    drive(estimator, 50, 100, 0, clock, 1);
    expect(estimator.eta()).toBeCloseTo(300, 6);
  });

  it('after a resume counts from the step it resumed at', () => {
    const clock = { t: 0 };
    const estimator = new ProgressEstimator({ totalEnvSteps: 1000, startEnvStep: 800, actionRepeat: 4, randomUntil: 10 });
    drive(estimator, 200, 210, 10, clock, 0.5);
    expect(estimator.eta()).toBeCloseTo(40 * 0.5, 6);
  });
});

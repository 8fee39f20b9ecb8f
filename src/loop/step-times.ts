// Where the wall-clock time of agent steps goes, summed over a window: the
// update, acting, the environment (physics and rendering, resets included),
// replay (storing the transition, sampling and augmenting the batch),
// evaluation and checkpoints; `total` is whole steps, so what none of these
// covers (bookkeeping, logging, frame stacking) is total minus their sum.
export const stepPhases = ['update', 'act', 'env', 'replay', 'eval', 'checkpoint'] as const;
export type StepPhase = (typeof stepPhases)[number];

export class StepTimes {
  private ms: Record<StepPhase | 'total', number> = StepTimes.zero();
  private steps = 0;

  private static zero(): Record<StepPhase | 'total', number> {
    return { update: 0, act: 0, env: 0, replay: 0, eval: 0, checkpoint: 0, total: 0 };
  }

  /** Runs `fn`, adding its time to `phase`. */
  async time<T>(phase: StepPhase | 'total', fn: () => Promise<T> | T): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      this.ms[phase] += performance.now() - start;
    }
  }

  /** Synchronous twin of time(), for work that must not yield to the event loop. */
  timeSync<T>(phase: StepPhase, fn: () => T): T {
    const start = performance.now();
    try {
      return fn();
    } finally {
      this.ms[phase] += performance.now() - start;
    }
  }

  countStep(): void {
    this.steps += 1;
  }

  /** Milliseconds per phase since the last reset, with `other` = total - the phases; and the steps counted. */
  snapshot(): { steps: number; ms: Record<StepPhase | 'total' | 'other', number> } {
    const phases = stepPhases.reduce((sum, p) => sum + this.ms[p], 0);
    return { steps: this.steps, ms: { ...this.ms, other: Math.max(0, this.ms.total - phases) } };
  }

  reset(): void {
    this.ms = StepTimes.zero();
    this.steps = 0;
  }
}

import { describe, expect, it } from 'vitest';
import { StepTimes } from '../../src/loop/step-times.js';

const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('StepTimes', () => {
  it('adds each timed call to its phase; other is the step time no phase covers', async () => {
    const t = new StepTimes();
    await t.time('total', async () => {
      t.timeSync('act', () => busy(4));
      await t.time('update', async () => busy(6));
      busy(5);
    });
    t.countStep();
    const { steps, ms } = t.snapshot();
    expect(steps).toBe(1);
    expect(ms.act).toBeGreaterThanOrEqual(4);
    expect(ms.update).toBeGreaterThanOrEqual(6);
    expect(ms.other).toBeGreaterThanOrEqual(5);
    expect(ms.act + ms.update + ms.env + ms.replay + ms.eval + ms.checkpoint + ms.other).toBeCloseTo(ms.total, 6);
  });

  it('counts a phase that throws, and starts over on reset', async () => {
    const t = new StepTimes();
    await expect(t.time('env', async () => {
      busy(2);
      throw new Error('env died');
    })).rejects.toThrow('env died');
    expect(t.snapshot().ms.env).toBeGreaterThanOrEqual(2);
    t.reset();
    expect(t.snapshot()).toEqual({ steps: 0, ms: { update: 0, act: 0, env: 0, replay: 0, eval: 0, checkpoint: 0, total: 0, other: 0 } });
  });
});

import { describe, expect, it } from 'vitest';
import { NativeCallTimer, stageBreakdown, unionWithin } from '../../experiments/bench/lib/native-timing.js';

describe('bench update --breakdown: native call timing', () => {
  it('the union of overlapping, nested and disjoint intervals, clipped to a window', () => {
    const intervals = [[0, 10], [5, 12], [6, 7], [20, 25], [30, 30]] as const;
    expect(unionWithin(intervals, -100, 100)).toBe(12 + 5);
    expect(unionWithin(intervals, 8, 22)).toBe(4 + 2);
    expect(unionWithin(intervals, 12, 20)).toBe(0);
    expect(unionWithin([], 0, 1)).toBe(0);
  });

  it('wraps sync and async methods, recording each call, and leaves other properties and errors alone', async () => {
    const timer = new NativeCallTimer();
    const target = {
      threads: 3,
      add(a: number, b: number) {
        return a + b + this.threads;
      },
      async later(x: number) {
        await new Promise((r) => setTimeout(r, 20));
        return x * 2;
      },
      fail() {
        throw new RangeError('native failure');
      },
    };
    const wrapped = timer.wrap(target, 'conv');
    expect(wrapped.threads).toBe(3);
    expect(wrapped.add(1, 2)).toBe(6);
    expect(await wrapped.later(4)).toBe(8);
    expect(() => wrapped.fail()).toThrow(RangeError);
    const calls = timer.byMethod();
    expect(Object.keys(calls).sort()).toEqual(['conv.add', 'conv.later']);
    expect(calls['conv.add']!.calls).toBe(1);
    expect(calls['conv.later']!.ms).toBeGreaterThanOrEqual(15);
    timer.reset();
    expect(timer.byMethod()).toEqual({});
  });

  it("splits stages laid back to back from the update's start into native and JS-only time, the rest as 'finish'", () => {
    const timer = new NativeCallTimer();
    timer.record('conv.forward', 100, 130); // target 100-140: 30 native
    timer.record('heads.mlpForward', 135, 150); // overlaps target's end and critic's start
    timer.record('heads.adamStep', 155, 158);
    const split = stageBreakdown(timer, 100, 175, { target: 40, critic: 30 });
    expect(split['target']).toEqual({ ms: 40, nativeMs: 35, jsOnlyMs: 5 });
    expect(split['critic']).toEqual({ ms: 30, nativeMs: 10 + 3, jsOnlyMs: 17 });
    expect(split['finish']).toEqual({ ms: 5, nativeMs: 0, jsOnlyMs: 5 });
  });
});

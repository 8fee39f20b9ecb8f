import { describe, expect, it } from 'vitest';
import { ReplayBuffer } from '../../replay/buffer.js';
import { ReplayError } from '../../replay/errors.js';
import { Rng } from '../../src/core/rng.js';
import type { Batch } from '../../replay/types.js';
import { expectBytes, expectedStack, fill, frameFor, makeBuffer, validTransitions, type ModelFrame } from './helpers.js';

const INV37 = (() => {
  for (let x = 1; x < 256; x++) if ((37 * x) % 256 === 1) return x;
  throw new Error('no inverse');
})();

/** Global index of the newest frame of sample b's obs, read from its first byte (frames written < 256). */
function sampledIndex(batch: Batch, b: number): number {
  const imageBytes = batch.size * batch.size * batch.channels;
  const v = batch.obs[b * imageBytes + batch.channels - 3]!;
  return ((v - 5) * INV37) & 255;
}

function image(batch: Batch, which: 'obs' | 'nextObs' | 'obsPositive', b: number): Uint8Array {
  const n = batch.size * batch.size * batch.channels;
  return batch[which]!.subarray(b * n, (b + 1) * n);
}

describe('ReplayBuffer stacks', () => {
  it('repeats the first frame of an episode and never crosses into the previous one', () => {
    const buffer = makeBuffer({ capacity: 64 });
    // Episode 0: frames 0..3 (3 steps); episode 1: frames 4..5 (1 step); episode 2: frames 6..11.
    const model = fill(buffer, [3, 1, 5]);
    const newest = (g: number): number[] => {
      const s = buffer.stackAt(g);
      return [0, 1, 2].map((f) => ((s[3 * f]! - 5) * INV37) & 255);
    };
    expect(newest(0)).toEqual([0, 0, 0]);
    expect(newest(1)).toEqual([0, 0, 1]);
    expect(newest(2)).toEqual([0, 1, 2]);
    expect(newest(3)).toEqual([1, 2, 3]);
    expect(newest(4)).toEqual([4, 4, 4]);
    expect(newest(5)).toEqual([4, 4, 5]);
    expect(newest(6)).toEqual([6, 6, 6]);
    expect(newest(8)).toEqual([6, 7, 8]);
    for (const m of model) expectBytes(buffer.stackAt(m.g), expectedStack(model, m.g, 3, 4, 4));
  });

  it('counts transitions: one per step, none from an episode-final frame', () => {
    const buffer = makeBuffer({ capacity: 64 });
    expect(buffer.size).toBe(0);
    fill(buffer, [3, 1, 5]);
    expect(buffer.size).toBe(9);
    expect(buffer.framesWritten).toBe(12);
  });

  it('samples obs, nextObs, action, reward and notDone of the same transition', () => {
    const buffer = makeBuffer({ capacity: 64 });
    const model = fill(buffer, [3, 1, 5, 2], (e) => e === 1 || e === 3);
    const batch = buffer.sample(200, new Rng(3), { cropSize: 4, positive: true });
    expect(batch).toMatchObject({ batchSize: 200, size: 4, channels: 9, actionDim: 2 });
    const seen = new Set<number>();
    for (let b = 0; b < 200; b++) {
      const g = sampledIndex(batch, b);
      seen.add(g);
      const m = model[g]!;
      expect(m.step).toBeDefined();
      expectBytes(image(batch, 'obs', b), expectedStack(model, g, 3, 4, 4));
      expectBytes(image(batch, 'obsPositive', b), expectedStack(model, g, 3, 4, 4));
      expectBytes(image(batch, 'nextObs', b), expectedStack(model, g + 1, 3, 4, 4));
      expect(Array.from(batch.action.subarray(2 * b, 2 * b + 2))).toEqual(Array.from(m.step!.action));
      expect(batch.reward[b]).toBe(Math.fround(m.step!.reward));
      expect(batch.notDone[b]).toBe(m.step!.terminated ? 0 : 1);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual(validTransitions(model, 64, 3).map((m) => m.g));
  });

  it('maps terminated to notDone 0 and truncated to notDone 1', () => {
    const buffer = makeBuffer({ capacity: 16, frameStack: 1 });
    const frame = new Uint8Array(48);
    buffer.addReset(frame);
    buffer.addStep({ action: new Float32Array([1, 1]), reward: 0, terminated: true, truncated: false, nextFrame: frame });
    buffer.addReset(frame);
    buffer.addStep({ action: new Float32Array([2, 2]), reward: 0, terminated: false, truncated: true, nextFrame: frame });
    buffer.addReset(frame);
    buffer.addStep({ action: new Float32Array([3, 3]), reward: 0, terminated: false, truncated: false, nextFrame: frame });
    const batch = buffer.sample(300, new Rng(1), { cropSize: 4, positive: false });
    expect(batch.obsPositive).toBeUndefined();
    const byAction = new Map<number, Set<number>>();
    for (let b = 0; b < 300; b++) {
      const a = batch.action[2 * b]!;
      if (!byAction.has(a)) byAction.set(a, new Set());
      byAction.get(a)!.add(batch.notDone[b]!);
    }
    expect(byAction).toEqual(new Map([[1, new Set([0])], [2, new Set([1])], [3, new Set([1])]]));
  });
});

describe('ReplayBuffer ring wrap-around', () => {
  const cases: { name: string; maxBlockBytes?: number }[] = [{ name: 'one block' }, { name: 'blocks of 3 frames', maxBlockBytes: 3 * 48 + 5 }];
  for (const { name, maxBlockBytes } of cases) {
    it(`never samples a transition whose stack or next frame was overwritten (${name})`, () => {
      const capacity = 10;
      const buffer = makeBuffer({ capacity, ...(maxBlockBytes ? { maxBlockBytes } : {}) });
      const lengths = [4, 1, 6, 2, 7, 3, 1, 5];
      const model: ModelFrame[] = [];
      // Check after every episode so each alignment of the ring's tail against episode starts is seen.
      for (let e = 0; e < lengths.length; e++) {
        model.push(...fill(buffer, [lengths[e]!], undefined, false, model.length));
        const valid = validTransitions(model, capacity, 3);
        expect(buffer.size).toBe(valid.length);
        const batch = buffer.sample(250, new Rng(e), { cropSize: 4, positive: false });
        const seen = new Set<number>();
        for (let b = 0; b < 250; b++) {
          const v = batch.obs[b * 144 + 6]!;
          // newest frame's first byte identifies g modulo 256 (fewer than 256 frames here)
          const g = ((v - 5) * INV37) & 255;
          seen.add(g);
          // batch.indices names the same transition by its global index (slot g % capacity), past the wrap too
          expect(batch.indices![b]).toBe(g);
          expectBytes(image(batch, 'obs', b), expectedStack(model, g, 3, 4, 4));
          expectBytes(image(batch, 'nextObs', b), expectedStack(model, g + 1, 3, 4, 4));
        }
        expect([...seen].sort((a, b) => a - b)).toEqual(valid.map((m) => m.g));
      }
      expect(model.length).toBeGreaterThan(3 * capacity);
    });
  }

  it('drops transitions whose stack reaches before the ring tail even mid-episode', () => {
    const buffer = makeBuffer({ capacity: 5 });
    const model = fill(buffer, [9], () => false, true);
    // frames 0..9 written; live 5..9; the open episode started at 0.
    // g = 5, 6: stacks need frames 3..4 / 4 (overwritten); 7, 8 valid; 9 has no step yet.
    expect(buffer.size).toBe(2);
    expectBytes(buffer.stackAt(7), expectedStack(model, 7, 3, 4, 4));
    // what sampling draws, read from the frames themselves
    const sampled = (): number[] => {
      const batch = buffer.sample(64, new Rng(5), { cropSize: 4, positive: false });
      return [...new Set(Array.from({ length: 64 }, (_, b) => sampledIndex(batch, b)))].sort((a, b) => a - b);
    };
    expect(sampled()).toEqual([7, 8]);
    expect(() => buffer.stackAt(6)).toThrow(ReplayError);
    expect(() => buffer.stackAt(4)).toThrow(/not live/);
    // Frame 10 overwrites 5: live 6..10; 7 now needs 5 and drops out, 9 gains its step: 8, 9.
    buffer.addStep({ action: new Float32Array(2), reward: 0, terminated: false, truncated: false, nextFrame: frameFor(10, 48) });
    expect(buffer.size).toBe(2);
    expect(sampled()).toEqual([8, 9]);
    expect(() => buffer.stackAt(7)).toThrow(/overwritten/);
  });
});

describe('ReplayBuffer sampling', () => {
  it('is reproducible for the same rng state and adds, and differs for another seed', () => {
    const make = (): ReplayBuffer => {
      const buffer = makeBuffer({ capacity: 20, frameShape: [10, 10, 3] });
      fill(buffer, [7, 3, 9, 4]);
      return buffer;
    };
    const a = make().sample(32, new Rng(7), { cropSize: 6, positive: true });
    const b = make().sample(32, new Rng(7), { cropSize: 6, positive: true });
    const c = make().sample(32, new Rng(8), { cropSize: 6, positive: true });
    expect(b).toEqual(a);
    expect(c.obs).not.toEqual(a.obs);
  });

  it('draws valid transitions uniformly', () => {
    const buffer = makeBuffer({ capacity: 12 });
    const model = fill(buffer, [1, 4, 1, 2, 3]);
    const valid = validTransitions(model, 12, 3).map((m) => m.g);
    const counts = new Map<number, number>();
    const n = 6000;
    const batch = buffer.sample(n, new Rng(11), { cropSize: 4, positive: false });
    for (let b = 0; b < n; b++) {
      const g = sampledIndex(batch, b);
      counts.set(g, (counts.get(g) ?? 0) + 1);
    }
    expect([...counts.keys()].sort((x, y) => x - y)).toEqual(valid);
    const expected = n / valid.length;
    let chi2 = 0;
    for (const c of counts.values()) chi2 += (c - expected) ** 2 / expected;
    // Episodes: frames 0-1, 2-6, 7-8, 9-11, 12-15; live 4..15. Steps 4 and 5 need frames 2, 3
    // (overwritten); 6, 8, 11, 15 end episodes. df = 5: 20.5 is the 0.999 quantile of chi^2.
    expect(valid).toEqual([7, 9, 10, 12, 13, 14]);
    expect(chi2).toBeLessThan(20.5);
  });

  it('writes into a reused batch exactly what a fresh call returns', () => {
    const buffer = makeBuffer({ capacity: 30, frameShape: [10, 10, 3] });
    fill(buffer, [8, 8, 8]);
    const fresh = buffer.sample(16, new Rng(5), { cropSize: 8, positive: true });
    const reused = buffer.sample(16, new Rng(6), { cropSize: 8, positive: true });
    const again = buffer.sample(16, new Rng(5), { cropSize: 8, positive: true, into: reused });
    expect(again.obs).toBe(reused.obs);
    expect(again.indices).toBe(reused.indices);
    expect(again).toEqual(fresh);
    expect(() => buffer.sample(8, new Rng(5), { cropSize: 8, positive: true, into: reused })).toThrow(/into/);
  });
});

describe('ReplayBuffer contract errors and memory', () => {
  it('rejects misuse with an explanation', () => {
    const buffer = makeBuffer({ capacity: 8 });
    const frame = new Uint8Array(48);
    const step = { action: new Float32Array(2), reward: 1, terminated: false, truncated: false, nextFrame: frame };
    expect(() => buffer.addStep(step)).toThrow(/call addReset/);
    expect(() => buffer.sample(4, new Rng(1), { cropSize: 4, positive: false })).toThrow(/size 0/);
    expect(() => buffer.addReset(new Uint8Array(47))).toThrow(/4x4x3 = 48 bytes/);
    buffer.addReset(frame);
    expect(() => buffer.addStep({ ...step, action: new Float32Array(3) })).toThrow(/actionDim = 2/);
    expect(() => buffer.addStep({ ...step, reward: Number.NaN })).toThrow(/finite/);
    buffer.addStep({ ...step, truncated: true });
    expect(() => buffer.addStep(step)).toThrow(/ended the episode/);
    expect(() => buffer.sample(4, new Rng(1), { cropSize: 5, positive: false })).toThrow(/cropSize/);
    expect(() => buffer.sample(0, new Rng(1), { cropSize: 4, positive: false })).toThrow(/batchSize/);
    expect(() => makeBuffer({ capacity: 1 })).toThrow(ReplayError);
    expect(() => makeBuffer({ capacity: 8, frameShape: [4, 4, 1] })).toThrow(/\[H, W, 3\]/);
  });

  it('allocates one frame plus its step record per slot, split into blocks when asked', () => {
    const buffer = new ReplayBuffer({ capacity: 1000, frameShape: [100, 100, 3], actionDim: 6, frameStack: 3 });
    // frame + epStart (f64) + action (6 x f32) + reward (f32) + flags (u8)
    expect(buffer.bytesAllocated()).toBe(1000 * (30_000 + 8 + 24 + 4 + 1));
    expect(buffer.bytesAllocated() / 1000).toBeLessThanOrEqual(30_100);
    const split = new ReplayBuffer({ capacity: 1000, frameShape: [100, 100, 3], actionDim: 6, frameStack: 3, maxBlockBytes: 1_000_000 });
    expect(split.bytesAllocated()).toBe(buffer.bytesAllocated());
  });
});

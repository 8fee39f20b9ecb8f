import { describe, expect, it } from 'vitest';
import { ActionRepeat, EpisodeStatistics, FrameStack, FrameStacker, RescaleAction, TimeLimit } from '../../envs/wrappers/index.js';
import { CountingEnv, SnapshotCountingEnv } from './fake-env.js';

const a = (v = 0): Float32Array => Float32Array.of(v);

describe('FrameStacker', () => {
  // frame f: pixel p, channel c holds 100*f + 10*p + c
  const frame = (f: number): Uint8Array => Uint8Array.from({ length: 2 * 3 * 2 }, (_, i) => 100 * f + 10 * Math.floor(i / 2) + (i % 2));

  it('repeats the first frame k times at reset', () => {
    const s = new FrameStacker([2, 3, 2], 3);
    const out = s.reset(frame(0));
    expect(out.length).toBe(2 * 3 * 2 * 3);
    for (let p = 0; p < 6; p++) for (let j = 0; j < 3; j++) for (let c = 0; c < 2; c++) expect(out[p * 6 + j * 2 + c]).toBe(10 * p + c);
  });

  it('lays frames out frame-major on the channel axis, oldest first', () => {
    const s = new FrameStacker([2, 3, 2], 3);
    s.reset(frame(0));
    s.push(frame(1));
    const out = s.push(frame(2));
    // pixel p, slot j (0 = oldest), channel c at p*(c*k) + j*c + c
    for (let p = 0; p < 6; p++) for (let j = 0; j < 3; j++) for (let c = 0; c < 2; c++) expect(out[p * 6 + j * 2 + c]).toBe(100 * j + 10 * p + c);
    const next = s.push(frame(3));
    expect(next[0]).toBe(100);
    expect(next[2]).toBe(200);
    // frame 3's values wrap modulo 256 in a Uint8Array
    expect(next[4]).toBe(300 % 256);
  });

  it('returns arrays the caller may keep', () => {
    const s = new FrameStacker([1, 1, 1], 2);
    const first = s.reset(Uint8Array.of(7));
    s.push(Uint8Array.of(9));
    expect([...first]).toEqual([7, 7]);
  });

  it('rejects frames of the wrong size and push before reset', () => {
    const s = new FrameStacker([2, 2, 3], 2);
    expect(() => s.push(new Uint8Array(12))).toThrow(/before reset/);
    expect(() => s.reset(new Uint8Array(5))).toThrow(/2x2x3 = 12 bytes, got 5 bytes/);
    expect(() => new FrameStacker([2, 2, 3], 0)).toThrow(/k must be an integer >= 1/);
  });
});

describe('FrameStack', () => {
  it('stacks observations and widens the channel axis', async () => {
    const env = new FrameStack(new CountingEnv(), 3);
    expect(env.observationSpace).toMatchObject({ shape: [2, 2, 9], dtype: 'uint8' });
    const r = await env.reset();
    expect([...r.observation.subarray(0, 9)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0]);
    await env.step(a());
    const s = await env.step(a());
    expect([...s.observation.subarray(0, 9)]).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
  });
});

describe('ActionRepeat', () => {
  it('sums rewards over the repeats and renders only the last frame', async () => {
    const inner = new CountingEnv();
    const env = new ActionRepeat(inner, 4);
    await env.reset();
    const rendersAfterReset = inner.renders;
    const r = await env.step(a(0.5));
    expect(r.reward).toBe(1 + 2 + 3 + 4);
    expect(inner.physicsSteps).toBe(4);
    expect(inner.renders - rendersAfterReset).toBe(1);
    expect(r.observation[0]).toBe(4);
    expect(inner.lastAction).toBe(0.5);
  });

  it('stops repeating when the episode ends', async () => {
    const inner = new CountingEnv(6);
    const env = new ActionRepeat(inner, 4);
    await env.reset();
    await env.step(a());
    const r = await env.step(a());
    expect(r.terminated).toBe(true);
    expect(r.reward).toBe(5 + 6);
    expect(inner.t).toBe(6);
  });

  it('rejects a non-positive repeat', () => {
    expect(() => new ActionRepeat(new CountingEnv(), 0)).toThrow(/repeat must be an integer >= 1/);
  });
});

describe('TimeLimit + EpisodeStatistics', () => {
  it('truncates (never terminates) at ceil(1000 / repeat) agent steps and reports the episode', async () => {
    for (const repeat of [1, 3, 8]) {
      const inner = new CountingEnv();
      const env = new EpisodeStatistics(new TimeLimit(new ActionRepeat(inner, repeat), Math.ceil(1000 / repeat)));
      await env.reset();
      let steps = 0;
      let last;
      do {
        last = await env.step(a());
        steps++;
      } while (!last.truncated && !last.terminated);
      expect(steps).toBe(Math.ceil(1000 / repeat));
      expect(last.terminated).toBe(false);
      const control = steps * repeat;
      expect(last.info['episode']).toEqual({ return: (control * (control + 1)) / 2, length: steps });
      await expect(env.step(a())).rejects.toThrow(/call reset\(\) first/);
    }
  });

  it('snapshots and restores its counters', async () => {
    expect(() => new TimeLimit(new CountingEnv(), 5).getSnapshot()).toThrow(/cannot save snapshots/);

    // a stack whose every layer has state: the step count, the episode sums, the stacked frames
    const make = (): EpisodeStatistics<Uint8Array, Float32Array> =>
      new EpisodeStatistics(new TimeLimit(new FrameStack(new SnapshotCountingEnv(), 3), 5));
    const env = make();
    await env.reset();
    await env.step(a());
    await env.step(a());
    // a msgpack-like round trip: the snapshot must not share state with the live env
    const snap = structuredClone(env.getSnapshot());
    const expected = [await env.step(a()), await env.step(a()), await env.step(a())];
    expect(expected[2]?.truncated).toBe(true);
    expect(expected[2]?.info['episode']).toEqual({ return: 1 + 2 + 3 + 4 + 5, length: 5 });
    await expect(env.step(a())).rejects.toThrow(/call reset\(\) first/);

    // restored into the same (finished) env and into a fresh one, the rest of the episode replays exactly
    for (const target of [env, make()]) {
      target.restoreSnapshot(snap);
      for (const want of expected) {
        const got = await target.step(a());
        expect(Array.from(got.observation)).toEqual(Array.from(want.observation));
        expect({ reward: got.reward, truncated: got.truncated, episode: got.info['episode'] }).toEqual({
          reward: want.reward,
          truncated: want.truncated,
          episode: want.info['episode'],
        });
      }
    }
  });
});

describe('RescaleAction', () => {
  it('maps [0, 1] linearly onto the inner [-1, 1]', async () => {
    const inner = new CountingEnv();
    const env = new RescaleAction(inner, 0, 1);
    expect(env.actionSpace).toMatchObject({ low: 0, high: 1 });
    await env.reset();
    await env.step(a(0.75));
    expect(inner.lastAction).toBeCloseTo(0.5, 6);
    await env.step(a(0));
    expect(inner.lastAction).toBe(-1);
  });
});

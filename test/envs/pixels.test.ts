import { afterAll, describe, expect, it } from 'vitest';
import { MujocoEnv } from '../../envs/mujoco/env.js';
import { getTask } from '../../envs/registry.js';

const open: MujocoEnv[] = [];
afterAll(() => open.forEach((e) => e.close()));

async function env(id: string, imageSize = 100): Promise<MujocoEnv> {
  const e = await MujocoEnv.create(getTask(id)!, { imageSize });
  open.push(e);
  return e;
}

/** Columns in row `y` whose colour is the brown 'self' material (r > g > b clearly). */
function brownColumns(img: Uint8Array, size: number, y: number): number[] {
  const cols: number[] = [];
  for (let x = 0; x < size; x++) {
    const o = 3 * (y * size + x);
    const r = img[o] as number, g = img[o + 1] as number, b = img[o + 2] as number;
    if (r > g + 15 && g > b + 10 && r > 60) cols.push(x);
  }
  return cols;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('rendered pixels', () => {
  it('cartpole: the cart is centred for qpos 0 and moves right by the projected amount for slider = 1', async () => {
    const e = await env('cartpole-swingup');
    e.reset({ seed: 0 });
    e.restoreSnapshot({ ...e.getSnapshot(), qpos: [0, 0], qvel: [0, 0] });
    // The camera sits level with the cart (z = 1), so the cart straddles the middle rows.
    const centred = brownColumns(e.observe(), 100, 52);
    expect(centred.length).toBeGreaterThan(5);
    expect(mean(centred)).toBeGreaterThan(47);
    expect(mean(centred)).toBeLessThan(52);
    e.restoreSnapshot({ ...e.getSnapshot(), qpos: [1, 0], qvel: [0, 0] });
    // Pinhole: 1 m at 4 m depth with fovy 45 deg is 50 / (4 tan 22.5 deg) = 30.2 px right of centre.
    const moved = brownColumns(e.observe(), 100, 52);
    expect(mean(moved)).toBeGreaterThan(49.5 + 30.2 - 3);
    expect(mean(moved)).toBeLessThan(49.5 + 30.2 + 3);
  });

  it('cartpole: the upright pole is above the cart, the hanging pole below', async () => {
    const e = await env('cartpole-swingup');
    e.reset({ seed: 0 });
    e.restoreSnapshot({ ...e.getSnapshot(), qpos: [0, 0], qvel: [0, 0] });
    const up = e.observe();
    expect(brownColumns(up, 100, 30).length).toBeGreaterThan(0);
    expect(brownColumns(up, 100, 70).length).toBe(0);
    e.restoreSnapshot({ ...e.getSnapshot(), qpos: [0, Math.PI], qvel: [0, 0] });
    const down = e.observe();
    expect(brownColumns(down, 100, 30).length).toBe(0);
    expect(brownColumns(down, 100, 70).length).toBeGreaterThan(0);
  });

  it('every task: the frame changes when the state changes, and the same state gives the same pixels', async () => {
    for (const id of ['pendulum-swingup', 'finger-spin', 'reacher-easy', 'cheetah-run', 'walker-walk', 'ball_in_cup-catch']) {
      const e = await env(id, 48);
      const first = e.reset({ seed: 4 }).observation;
      const again = e.reset({ seed: 4 }).observation;
      expect(Buffer.compare(Buffer.from(first), Buffer.from(again)), id).toBe(0);
      let changed = 0;
      for (let t = 0; t < 5; t++) {
        const obs = e.step(new Float32Array(e.task.actionDim).fill(1)).observation;
        changed = obs.reduce((n, v, i) => n + (v !== first[i] ? 1 : 0), 0);
      }
      expect(changed, id).toBeGreaterThan(0);
    }
  });

  it('observations are uint8 HWC RGB of the requested size', async () => {
    const e = await env('walker-walk', 84);
    const { observation } = e.reset({ seed: 0 });
    expect(observation).toBeInstanceOf(Uint8Array);
    expect(observation.length).toBe(84 * 84 * 3);
    expect(e.observationSpace.shape).toEqual([84, 84, 3]);
  });
});

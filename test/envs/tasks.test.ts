import { afterAll, describe, expect, it } from 'vitest';
import { MujocoEnv } from '../../envs/mujoco/env.js';
import { loadMujoco } from '../../envs/mujoco/module.js';
import { Physics } from '../../envs/mujoco/physics.js';
import { Rng } from '../../src/core/rng.js';
import { ActionRepeat } from '../../envs/wrappers/action-repeat.js';
import { MUJOCO_TASKS, getTask } from '../../envs/registry.js';
import { blankRenderer, physicsEnv, randomAction } from './mujoco-helpers.js';

const open: MujocoEnv[] = [];
async function env(id: string): Promise<MujocoEnv> {
  const task = getTask(id);
  if (!task) throw new Error(`no task ${id}`);
  const e = await physicsEnv(task);
  open.push(e);
  return e;
}
afterAll(() => open.forEach((e) => e.close()));

// Published Control Suite definitions: [action dim, physics timestep, control timestep].
const DMC: Record<string, [number, number, number]> = {
  'cartpole-swingup': [1, 0.01, 0.01],
  'cartpole-balance': [1, 0.01, 0.01],
  'pendulum-swingup': [1, 0.02, 0.02],
  'finger-spin': [2, 0.01, 0.02],
  'reacher-easy': [2, 0.02, 0.02],
  'cheetah-run': [6, 0.01, 0.01],
  'walker-walk': [6, 0.0025, 0.025],
  'ball_in_cup-catch': [2, 0.002, 0.02],
};

describe('MJCF models', () => {
  it.each(MUJOCO_TASKS.map((t) => [t.id, t] as const))('%s loads with the published action dim, timesteps and a small MjData', async (id, task) => {
    const e = await env(id);
    const [nu, dt, control] = DMC[id] as [number, number, number];
    expect(e.physics.model.nu).toBe(nu);
    expect(e.physics.timestep).toBeCloseTo(dt, 12);
    expect(task.controlTimestep).toBeCloseTo(control, 12);
    expect(e.substeps).toBe(Math.round(control / dt));
    expect(task.episodeSteps).toBe(1000);
    expect(e.actionSpace).toMatchObject({ shape: [nu], low: -1, high: -1 * -1 });
    expect(e.physics.cameraId(task.camera)).toBeGreaterThanOrEqual(0);
    // <size memory="2M"/> keeps each MjData small against the 2 GiB wasm heap.
    expect(Number(e.physics.model.narena)).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it('reports a model load error with the model name', async () => {
    const mj = await loadMujoco();
    expect(() => new Physics(mj, '<mujoco><worldbody><geom type="nonsense"/></worldbody></mujoco>', 'broken')).toThrow(/"broken" failed to load: .*nonsense/s);
  });
});

describe('rewards over random rollouts', () => {
  it.each(MUJOCO_TASKS.map((t) => t.id))('%s: per-step reward in [0, 1], finite state, deterministic under a seed', async (id) => {
    const e = await env(id);
    const run = (): number[] => {
      e.reset({ seed: 7 });
      let s = 1;
      const rng = (): number => ((s = (s * 16807) % 2147483647) / 2147483647);
      const rewards: number[] = [];
      for (let t = 0; t < 60; t++) rewards.push(e.step(randomAction(e.task.actionDim, rng)).reward);
      return rewards;
    };
    const first = run();
    for (const r of first) {
      expect(r).toBeGreaterThanOrEqual(0);
      expect(r).toBeLessThanOrEqual(1);
    }
    for (const q of e.physics.qpos) expect(Number.isFinite(q)).toBe(true);
    expect(run()).toEqual(first);
  });
});

describe('task rewards at known states', () => {
  it('cartpole: upright, centred, still pole with no control gives reward 1; hanging gives about 0', async () => {
    const e = await env('cartpole-swingup');
    e.reset({ seed: 0 });
    const p = e.physics;
    p.qpos.fill(0);
    p.qvel.fill(0);
    const r = e.step(Float32Array.of(0)).reward;
    expect(r).toBeGreaterThan(0.999);
    e.reset({ seed: 0 });
    p.qvel.fill(0);
    p.qpos[1] = Math.PI;
    expect(e.step(Float32Array.of(0)).reward).toBeLessThan(1e-3);
  });

  it('cartpole: swingup starts hanging down, balance starts near upright', async () => {
    const up = await env('cartpole-swingup');
    up.reset({ seed: 3 });
    expect(Math.abs((up.physics.qpos[1] as number) - Math.PI)).toBeLessThan(0.05);
    const bal = await env('cartpole-balance');
    bal.reset({ seed: 3 });
    expect(Math.abs(bal.physics.qpos[1] as number)).toBeLessThanOrEqual(0.034);
    expect(Math.abs(bal.physics.qpos[0] as number)).toBeLessThanOrEqual(0.1);
  });

  it('pendulum: a step near upright pays 1, a step 23 degrees off pays 0', async () => {
    const e = await env('pendulum-swingup');
    e.reset({ seed: 0 });
    const p = e.physics;
    p.qpos[0] = 0.05; // about 3 degrees
    p.qvel[0] = 0;
    expect(e.step(Float32Array.of(0)).reward).toBe(1);
    p.qpos[0] = 0.4; // about 23 degrees: outside dm_control's 8-degree bound (a 30-degree bound would pay it)
    p.qvel[0] = 0;
    expect(e.step(Float32Array.of(0)).reward).toBe(0);
  });

  it('finger-spin: 1 only while spinning faster than 15 rad/s in the negative direction', async () => {
    const e = await env('finger-spin');
    e.reset({ seed: 0 });
    const hinge = e.physics.jointDofAdr('hinge');
    e.physics.qvel[hinge] = -40;
    expect(e.step(Float32Array.of(0, 0)).reward).toBe(1);
    e.physics.qvel[hinge] = 40;
    expect(e.step(Float32Array.of(0, 0)).reward).toBe(0);
  });

  it('finger-spin: initial states are collision-free', async () => {
    const e = await env('finger-spin');
    for (let seed = 0; seed < 5; seed++) {
      e.reset({ seed });
      expect(e.physics.ncon).toBe(0);
    }
  });

  it('reacher-easy: target drawn within 0.05..0.2 m, reward 1 with the fingertip on it', async () => {
    const e = await env('reacher-easy');
    for (let seed = 0; seed < 5; seed++) {
      e.reset({ seed });
      const p = e.physics;
      const t = p.geomId('target');
      const r = Math.hypot(p.geomXpos[3 * t] as number, p.geomXpos[3 * t + 1] as number);
      expect(r).toBeGreaterThanOrEqual(0.05);
      expect(r).toBeLessThanOrEqual(0.2);
    }
    const p = e.physics;
    // Straight arm along +x puts the fingertip at 0.24 m; move the target there.
    e.restoreSnapshot({ ...e.getSnapshot(), qpos: [0, 0], qvel: [0, 0], task: { target: [0.24, 0] } });
    expect(e.step(Float32Array.of(0, 0)).reward).toBe(1);
    e.restoreSnapshot({ ...e.getSnapshot(), qpos: [Math.PI / 2, 0], qvel: [0, 0] });
    expect(e.step(Float32Array.of(0, 0)).reward).toBe(0);
    expect(p.qpos.length).toBe(2);
  });

  it('cheetah-run: reward is speed / 10, capped at 1', async () => {
    const e = await env('cheetah-run');
    e.reset({ seed: 0 });
    const p = e.physics;
    const rootx = p.jointDofAdr('rootx');
    // Clear of the floor nothing external pushes along x: the centre of mass keeps the 5 m/s it was given
    // (the legs' springs are internal forces), and the reward is linear in it, 0 at rest and 1 from 10 m/s.
    const rewardAt = (speed: number): number[] => {
      p.qpos[p.jointQposAdr('rootz')] = 2;
      p.qvel.fill(0);
      p.qvel[rootx] = speed;
      return [0, 1, 2].map(() => e.stepWithoutObservation(new Float32Array(6)).reward);
    };
    for (const r of rewardAt(5)) expect(r).toBeCloseTo(0.5, 4);
    for (const r of rewardAt(2.5)) expect(r).toBeCloseTo(0.25, 4);
    for (const r of rewardAt(9.9)) expect(r).toBeCloseTo(0.99, 4);
    // capped: 10 m/s and anything faster give exactly 1
    expect([...rewardAt(10.5), ...rewardAt(25)]).toEqual([1, 1, 1, 1, 1, 1]);
    // running backwards earns nothing
    expect(rewardAt(-3)).toEqual([0, 0, 0]);
  });

  it('walker-walk: standing tall and upright but still gives 1/6; lying down gives less', async () => {
    const e = await env('walker-walk');
    e.reset({ seed: 0 });
    const p = e.physics;
    p.qpos.fill(0);
    p.qvel.fill(0);
    // Standing pose with the torso at 1.3 m: standing = upright = 1, move = tolerance(0) = 0 -> 1/6.
    const r = e.stepWithoutObservation(new Float32Array(6)).reward;
    expect(r).toBeCloseTo(1 / 6, 2);
    p.qpos.fill(0);
    p.qpos[p.jointQposAdr('rootz')] = -1.2;
    p.qpos[p.jointQposAdr('rooty')] = Math.PI / 2;
    p.qvel.fill(0);
    expect(e.stepWithoutObservation(new Float32Array(6)).reward).toBeLessThan(0.1);
  });

  it('ball_in_cup-catch: 1 with the ball in the cup, 0 hanging below; initial states collision-free', async () => {
    const e = await env('ball_in_cup-catch');
    e.reset({ seed: 0 });
    expect(e.physics.ncon).toBe(0);
    const p = e.physics;
    const bx = p.jointQposAdr('ball_x');
    const bz = p.jointQposAdr('ball_z');
    p.qpos.fill(0);
    p.qvel.fill(0);
    // Ball body sits at z = 0.2 at qpos 0; the target centre is at 0.6 - 0.05 = 0.55.
    p.qpos[bz] = 0.35;
    p.qpos[bx] = 0;
    p.forward();
    const inCup = e.stepWithoutObservation(new Float32Array(2)).reward;
    expect(inCup).toBe(1);
    p.qpos.fill(0);
    p.qvel.fill(0);
    expect(e.stepWithoutObservation(new Float32Array(2)).reward).toBe(0);
  });
});

describe('initial states', () => {
  it('walker: joints within their ranges, torso pitch anywhere in [-pi, pi), root slides untouched', async () => {
    const e = await env('walker-walk');
    const p = e.physics;
    const pitches: number[] = [];
    for (let seed = 0; seed < 20; seed++) {
      p.reset();
      const rng = new Rng(seed);
      p.randomizeJoints(rng);
      expect(p.qpos[p.jointQposAdr('rootz')]).toBe(0);
      expect(p.qpos[p.jointQposAdr('rootx')]).toBe(0);
      const knee = p.qpos[p.jointQposAdr('right_knee')] as number;
      expect(knee).toBeGreaterThanOrEqual((-150 * Math.PI) / 180);
      expect(knee).toBeLessThanOrEqual(0);
      const hip = p.qpos[p.jointQposAdr('left_hip')] as number;
      expect(hip).toBeGreaterThanOrEqual((-20 * Math.PI) / 180);
      expect(hip).toBeLessThanOrEqual((100 * Math.PI) / 180);
      pitches.push(p.qpos[p.jointQposAdr('rooty')] as number);
    }
    expect(Math.min(...pitches)).toBeGreaterThanOrEqual(-Math.PI);
    expect(Math.max(...pitches)).toBeLessThan(Math.PI);
    expect(Math.max(...pitches) - Math.min(...pitches)).toBeGreaterThan(Math.PI);
  });

  it('cheetah: legs randomised, torso pitch not, then settled on the floor for 200 steps', async () => {
    const e = await env('cheetah-run');
    for (let seed = 0; seed < 3; seed++) {
      e.reset({ seed });
      const p = e.physics;
      expect(p.time).toBe(0);
      // Settled: torso near its resting height and roughly level, not tumbling.
      expect(Math.abs(p.qvel[p.jointDofAdr('rootz')] as number)).toBeLessThan(0.5);
      expect(p.bodyUpright(p.bodyId('torso'))).toBeGreaterThan(0.7);
    }
  });
});

describe('actions', () => {
  it('clips out-of-range values like ctrllimited actuators and rejects bad ones', async () => {
    const e = await env('cheetah-run');
    e.reset({ seed: 1 });
    const snap = e.getSnapshot();
    e.step(Float32Array.of(5, -5, 1, 0, 0, 0));
    const clippedQpos = Array.from(e.physics.qpos);
    e.restoreSnapshot(snap);
    e.step(Float32Array.of(1, -1, 1, 0, 0, 0));
    expect(Array.from(e.physics.qpos)).toEqual(clippedQpos);
    expect(() => e.step(new Float32Array(5))).toThrow(/length 5, expected 6 \(each in \[-1, 1\]\)/);
    expect(() => e.step(Float32Array.of(0, 0, Number.NaN, 0, 0, 0))).toThrow(/action\[2\] is NaN, expected a finite number in \[-1, 1\]/);
  });

  it('refuses step before reset and use after close', async () => {
    const mj = await loadMujoco();
    const e = new MujocoEnv(mj, getTask('pendulum-swingup')!, blankRenderer(), { imageSize: 4 });
    expect(() => e.step(Float32Array.of(0))).toThrow(/before reset/);
    e.close();
    e.close();
    expect(() => e.reset()).toThrow(/closed/);
  });
});

describe('rendering under action repeat', () => {
  it('draws one frame per agent step, after all the repeats', async () => {
    const counter = { renders: 0 };
    const inner = await physicsEnv(getTask('walker-walk')!, counter);
    open.push(inner);
    const env = new ActionRepeat(inner, 4);
    await env.reset({ seed: 0 });
    expect(counter.renders).toBe(1);
    const before = inner.physics.time;
    await env.step(new Float32Array(6));
    await env.step(new Float32Array(6));
    expect(counter.renders).toBe(3);
    // 2 agent steps x 4 repeats x 10 substeps x 2.5 ms
    expect(inner.physics.time - before).toBeCloseTo(0.2, 9);
  });
});

describe('snapshots', () => {
  it('restoring a snapshot reproduces the rest of the episode exactly', async () => {
    for (const id of ['walker-walk', 'reacher-easy']) {
      const e = await env(id);
      e.reset({ seed: 11 });
      let s = 5;
      const rng = (): number => ((s = (s * 16807) % 2147483647) / 2147483647);
      for (let t = 0; t < 10; t++) e.step(randomAction(e.task.actionDim, rng));
      const snap = JSON.parse(JSON.stringify(e.getSnapshot())) as Record<string, unknown>;
      const actions = Array.from({ length: 10 }, () => randomAction(e.task.actionDim, rng));
      const a = actions.map((x) => e.step(x).reward);
      const qa = Array.from(e.physics.qpos);
      e.reset({ seed: 99 });
      e.restoreSnapshot(snap);
      const b = actions.map((x) => e.step(x).reward);
      expect(b).toEqual(a);
      expect(Array.from(e.physics.qpos)).toEqual(qa);
    }
  });
});

/*
 * Parity with the DeepMind Control Suite's published task definitions
 * (dm_control/suite/<domain>.py and <domain>.xml). The numbers below are
 * copied from those definitions, not from our code, so a change to a model or
 * a reward that drifts from the Control Suite fails here.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadMujoco, type MujocoModule } from '../../envs/mujoco/module.js';
import { Physics } from '../../envs/mujoco/physics.js';
import type { BoundTask, MujocoTask } from '../../envs/mujoco/task.js';
import { MUJOCO_TASKS, getTask } from '../../envs/registry.js';
import { Rng } from '../../src/core/rng.js';
import { physicsEnv } from './mujoco-helpers.js';

interface Published {
  /** <option timestep>; MuJoCo's default 0.002 where the XML sets none. */
  physicsDt: number;
  /** _CONTROL_TIMESTEP in the task module; the physics timestep where there is none. */
  controlDt: number;
  /** _DEFAULT_TIME_LIMIT, seconds. */
  timeLimit: number;
  integrator: 'Euler' | 'RK4';
  /** Motor gears in actuator order; every actuator is ctrllimited to [-1, 1]. */
  gears: number[];
}

const DMC: Record<string, Published> = {
  'cartpole-swingup': { physicsDt: 0.01, controlDt: 0.01, timeLimit: 10, integrator: 'RK4', gears: [10] },
  'cartpole-balance': { physicsDt: 0.01, controlDt: 0.01, timeLimit: 10, integrator: 'RK4', gears: [10] },
  'pendulum-swingup': { physicsDt: 0.02, controlDt: 0.02, timeLimit: 20, integrator: 'Euler', gears: [1] },
  'finger-spin': { physicsDt: 0.01, controlDt: 0.02, timeLimit: 20, integrator: 'Euler', gears: [30, 15] },
  'reacher-easy': { physicsDt: 0.02, controlDt: 0.02, timeLimit: 20, integrator: 'Euler', gears: [0.05, 0.05] },
  'cheetah-run': { physicsDt: 0.01, controlDt: 0.01, timeLimit: 10, integrator: 'Euler', gears: [120, 90, 60, 90, 60, 30] },
  'walker-walk': { physicsDt: 0.0025, controlDt: 0.025, timeLimit: 25, integrator: 'Euler', gears: [100, 50, 20, 100, 50, 20] },
  'ball_in_cup-catch': { physicsDt: 0.002, controlDt: 0.02, timeLimit: 20, integrator: 'Euler', gears: [5, 5] },
};

const owned: Physics[] = [];
afterAll(() => owned.forEach((p) => p.dispose()));

async function bound(id: string): Promise<{ p: Physics; task: MujocoTask; b: BoundTask; mj: MujocoModule }> {
  const task = getTask(id);
  if (!task) throw new Error(`no task ${id}`);
  const mj = await loadMujoco();
  const p = new Physics(mj, task.xml, id);
  owned.push(p);
  return { p, task, b: task.bind(p), mj };
}

describe('physics constants match the published task definitions', () => {
  it('covers every built-in MuJoCo task', () => {
    expect(MUJOCO_TASKS.map((t) => t.id).sort()).toEqual(Object.keys(DMC).sort());
  });

  it.each(Object.entries(DMC))('%s: timestep, substeps, integrator, episode length, actuators', async (id, dmc) => {
    const task = getTask(id)!;
    const env = await physicsEnv(task);
    try {
      const m = env.physics.model;
      expect(env.physics.timestep).toBe(dmc.physicsDt);
      expect(task.controlTimestep).toBe(dmc.controlDt);
      expect(env.substeps).toBe(Math.round(dmc.controlDt / dmc.physicsDt));
      expect(task.episodeSteps).toBe(Math.round(dmc.timeLimit / dmc.controlDt));
      expect(Number(m.opt.integrator)).toBe(dmc.integrator === 'RK4' ? 1 : 0);
      const nu = dmc.gears.length;
      expect(m.nu).toBe(nu);
      expect(env.actionSpace).toMatchObject({ shape: [nu], low: -1, high: 1 });
      const gear = m.actuator_gear as Float64Array;
      const range = m.actuator_ctrlrange as Float64Array;
      for (let a = 0; a < nu; a++) {
        expect(gear[6 * a]).toBeCloseTo(dmc.gears[a]!, 12);
        expect([range[2 * a], range[2 * a + 1]]).toEqual([-1, 1]);
        // Bool arrays have no typed view in these bindings; read through the accessor.
        const acc = m.actuator(a);
        expect(Boolean(acc.ctrllimited as unknown)).toBe(true);
        acc.delete();
      }
    } finally {
      env.close();
    }
  });
});

// Closed forms of dm_control's `tolerance` for the shapes the rewards use.
/** Gaussian, value 0.1 at the margin: 0.1^((d/margin)^2) at distance d outside the bounds. */
const gaussian = (d: number, margin: number): number => (d <= 0 ? 1 : 0.1 ** ((d / margin) ** 2));
/** Linear: 1 - (d/margin)(1 - v), floored at 0. */
const linear = (d: number, margin: number, v: number): number => (d <= 0 ? 1 : Math.max(0, 1 - (d / margin) * (1 - v)));

/** The published reward of each task, from raw MuJoCo quantities. */
const REWARD: Record<string, (p: Physics) => number> = {
  'cartpole-swingup': cartpoleReward,
  'cartpole-balance': cartpoleReward,
  'pendulum-swingup': (p) => (p.xmat[9 * p.bodyId('pole') + 8]! >= Math.cos((8 * Math.PI) / 180) ? 1 : 0),
  'finger-spin': (p) => (p.qvel[p.jointDofAdr('hinge')]! <= -15 ? 1 : 0),
  'reacher-easy': (p) => {
    const t = p.geomId('target'), f = p.geomId('finger'), g = p.geomXpos;
    return Math.hypot(g[3 * t]! - g[3 * f]!, g[3 * t + 1]! - g[3 * f + 1]!) <= 0.05 + 0.01 ? 1 : 0;
  },
  'cheetah-run': (p) => linear(10 - p.sensordata[p.sensorAdr('torso_subtreelinvel')]!, 10, 0),
  'walker-walk': (p) => {
    const torso = p.bodyId('torso');
    const standing = gaussian(1.2 - p.xpos[3 * torso + 2]!, 0.6);
    const upright = (1 + p.xmat[9 * torso + 8]!) / 2;
    const stand = (3 * standing + upright) / 4;
    const move = linear(1 - p.sensordata[p.sensorAdr('torso_subtreelinvel')]!, 0.5, 0.5);
    return (stand * (5 * move + 1)) / 6;
  },
  'ball_in_cup-catch': (p) => {
    const t = p.siteId('target'), b = p.bodyId('ball');
    const dx = p.siteXpos[3 * t]! - p.xpos[3 * b]!, dz = p.siteXpos[3 * t + 2]! - p.xpos[3 * b + 2]!;
    return Math.abs(dx) < 0.05 - 0.025 && Math.abs(dz) < 0.05 - 0.025 ? 1 : 0;
  },
};

function cartpoleReward(p: Physics): number {
  const upright = (p.xmat[9 * p.bodyId('pole') + 8]! + 1) / 2;
  const centered = (1 + gaussian(Math.abs(p.qpos[p.jointQposAdr('slider')]!), 2)) / 2;
  const u = p.ctrl[0]!;
  const smallControl = (4 + Math.max(0, 1 - u * u)) / 5;
  const smallVelocity = (1 + gaussian(Math.abs(p.qvel[p.jointDofAdr('hinge')]!), 5)) / 2;
  return upright * smallControl * smallVelocity * centered;
}

/** A random state spread over each task's interesting region, so both reward branches occur. */
function randomState(id: string, p: Physics, rng: Rng): void {
  const u = (lo: number, hi: number): number => lo + (hi - lo) * rng.uniform();
  p.reset();
  if (id === 'ball_in_cup-catch') {
    // Cup at the origin of its slides; the ball somewhere in and around it.
    p.qpos[p.jointQposAdr('ball_x')] = u(-0.08, 0.08);
    p.qpos[p.jointQposAdr('ball_z')] = u(0.28, 0.42);
  } else if (id === 'reacher-easy') {
    p.qpos[0] = u(-Math.PI, Math.PI);
    p.qpos[1] = u(-2.8, 2.8);
    const pos = p.model.geom_pos as Float64Array;
    const t = p.geomId('target');
    pos[3 * t] = u(-0.25, 0.25);
    pos[3 * t + 1] = u(-0.25, 0.25);
  } else {
    for (let i = 0; i < p.qpos.length; i++) p.qpos[i] = u(-Math.PI, Math.PI);
    if (id === 'walker-walk') p.qpos[p.jointQposAdr('rootz')] = u(-1, 0.2);
  }
  const vmax = id === 'finger-spin' ? 30 : id === 'cheetah-run' ? 14 : 5;
  for (let i = 0; i < p.qvel.length; i++) p.qvel[i] = u(-vmax, vmax);
  for (let i = 0; i < p.ctrl.length; i++) p.ctrl[i] = u(-1.5, 1.5);
  p.forward();
}

describe('rewards follow the published definitions', () => {
  it.each(Object.keys(DMC))('%s: reward equals the Control Suite formula on 300 random states', async (id) => {
    const { p, b } = await bound(id);
    const rng = new Rng(`parity-${id}`);
    const values = new Set<number>();
    for (let k = 0; k < 300; k++) {
      randomState(id, p, rng);
      const expected = REWARD[id]!(p);
      expect(b.reward(), `state ${k}: qpos ${Array.from(p.qpos).join(', ')}`).toBeCloseTo(expected, 12);
      values.add(Math.round(expected * 1e6));
    }
    // The states exercise the reward, not one flat corner of it.
    expect(values.size).toBeGreaterThan(1);
  });

  it('pendulum-swingup pays within 8 degrees of upright (dm_control _ANGLE_BOUND), not beyond', async () => {
    const { p, b } = await bound('pendulum-swingup');
    const at = (deg: number): number => {
      p.reset();
      p.qpos[0] = (deg * Math.PI) / 180;
      p.forward();
      return b.reward();
    };
    expect(at(0)).toBe(1);
    expect(at(7.9)).toBe(1);
    expect(at(-7.9)).toBe(1);
    expect(at(8.1)).toBe(0);
    expect(at(-8.1)).toBe(0);
    expect(at(30)).toBe(0);
  });
});

describe('initial states follow the published procedures', () => {
  /**
   * dm_control's Cheetah.initialize_episode, done by hand with raw MuJoCo
   * calls: Physics.reset (mj_resetData + mj_forward at the zero pose), each
   * limited joint uniform in its range, in model order, then
   * physics.step(nstep=200), which for this Euler model is mj_step2 on the
   * zero pose's kinematics followed by 199 mj_step; the env's forward pass last.
   */
  async function cheetahByHand(seed: number, forwardBeforeSettling: boolean): Promise<{ qpos: number[]; qvel: number[] }> {
    const mj = await loadMujoco();
    const model = mj.MjModel.from_xml_string(getTask('cheetah-run')!.xml);
    const data = new mj.MjData(model);
    try {
      mj.mj_resetData(model, data);
      mj.mj_forward(model, data);
      const rng = new Rng(seed);
      const range = model.jnt_range as Float64Array;
      const adr = model.jnt_qposadr as Int32Array;
      for (let j = 0; j < model.njnt; j++) {
        const jnt = model.jnt(j);
        const limited = Boolean(jnt.limited as unknown);
        jnt.delete();
        if (!limited) continue;
        const [lo, hi] = [range[2 * j]!, range[2 * j + 1]!];
        (data.qpos as Float64Array)[adr[j]!] = lo + (hi - lo) * rng.uniform();
      }
      if (forwardBeforeSettling) {
        mj.mj_forward(model, data);
        for (let i = 0; i < 200; i++) mj.mj_step(model, data);
      } else {
        mj.mj_step2(model, data);
        for (let i = 1; i < 200; i++) mj.mj_step(model, data);
      }
      mj.mj_forward(model, data);
      return { qpos: Array.from(data.qpos as Float64Array), qvel: Array.from(data.qvel as Float64Array) };
    } finally {
      data.delete();
      model.delete();
    }
  }

  it('cheetah-run: the settled start state equals dm_control\'s order of reset, draw and 200 steps, bit for bit', async () => {
    const env = await physicsEnv(getTask('cheetah-run')!);
    try {
      for (const seed of [1, 7]) {
        env.reset({ seed });
        const expected = await cheetahByHand(seed, false);
        expect(Array.from(env.physics.qpos)).toEqual(expected.qpos);
        expect(Array.from(env.physics.qvel)).toEqual(expected.qvel);
        expect(env.physics.time).toBe(0);
        // The order matters: a forward pass before settling lands elsewhere.
        const other = await cheetahByHand(seed, true);
        const gap = Math.max(...other.qpos.map((q, i) => Math.abs(q - expected.qpos[i]!)));
        expect(gap).toBeGreaterThan(1e-3);
      }
    } finally {
      env.close();
    }
  });
});

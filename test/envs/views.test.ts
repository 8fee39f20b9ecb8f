/*
 * What the agent sees, against the Control Suite's models: the camera each
 * task renders from (dm_control's camera 0, which CURL's pixel wrappers use)
 * and the shared visual settings of suite/common/visual.xml.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MujocoEnv } from '../../envs/mujoco/env.js';
import { loadMujoco } from '../../envs/mujoco/module.js';
import { Physics } from '../../envs/mujoco/physics.js';
import { MUJOCO_TASKS, getTask } from '../../envs/registry.js';

type Vec3 = [number, number, number];

/** MuJoCo's xyaxes: x normalised, y made orthogonal to it and normalised, z = x cross y. Row-major matrix. */
function xyaxes(x: Vec3, y: Vec3): number[] {
  const nx = Math.hypot(...x);
  const X = x.map((v) => v / nx) as Vec3;
  const d = y[0] * X[0] + y[1] * X[1] + y[2] * X[2];
  const y2 = y.map((v, i) => v - d * X[i]!) as Vec3;
  const ny = Math.hypot(...y2);
  const Y = y2.map((v) => v / ny) as Vec3;
  const Z: Vec3 = [X[1] * Y[2] - X[2] * Y[1], X[2] * Y[0] - X[0] * Y[2], X[0] * Y[1] - X[1] * Y[0]];
  return [X[0], Y[0], Z[0], X[1], Y[1], Z[1], X[2], Y[2], Z[2]];
}

function quatToMat(q: ArrayLike<number>): number[] {
  const n = Math.hypot(q[0]!, q[1]!, q[2]!, q[3]!);
  const [w, x, y, z] = [q[0]! / n, q[1]! / n, q[2]! / n, q[3]! / n];
  return [
    1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
  ];
}

const RX90 = xyaxes([1, 0, 0], [0, 0, 1]);
const c60 = Math.cos(Math.PI / 3), s60 = Math.sin(Math.PI / 3);

/**
 * Camera 0 of each dm_control model: body it rides on, position in that body,
 * orientation, and mode. fovy is MuJoCo's default 45 everywhere.
 */
const DMC_CAMERA: Record<string, { body: string; pos: Vec3; mat: number[]; trackcom: boolean }> = {
  // cartpole.xml: pos="0 -4 1" zaxis="0 -1 0" (the shortest turn of +z onto -y: 90 degrees about x)
  'cartpole-swingup': { body: 'world', pos: [0, -4, 1], mat: RX90, trackcom: false },
  'cartpole-balance': { body: 'world', pos: [0, -4, 1], mat: RX90, trackcom: false },
  // pendulum.xml: pos="0 -1.5 2" xyaxes="1 0 0 0 1 1"
  'pendulum-swingup': { body: 'world', pos: [0, -1.5, 2], mat: xyaxes([1, 0, 0], [0, 1, 1]), trackcom: false },
  // finger.xml: cam0 pos="0 -1 .8" xyaxes="1 0 0 0 1 2"
  'finger-spin': { body: 'world', pos: [0, -1, 0.8], mat: xyaxes([1, 0, 0], [0, 1, 2]), trackcom: false },
  // reacher.xml: pos="0 0 .75" quat="1 0 0 0"
  'reacher-easy': { body: 'world', pos: [0, 0, 0.75], mat: [1, 0, 0, 0, 1, 0, 0, 0, 1], trackcom: false },
  // cheetah.xml: in torso, pos="0 -3 0" quat="0.707 0.707 0 0" mode="trackcom"
  'cheetah-run': { body: 'torso', pos: [0, -3, 0], mat: quatToMat([0.707, 0.707, 0, 0]), trackcom: true },
  // walker.xml: in torso, pos="0 -2 .7" euler="60 0 0" mode="trackcom"
  'walker-walk': { body: 'torso', pos: [0, -2, 0.7], mat: [1, 0, 0, 0, c60, -s60, 0, s60, c60], trackcom: true },
  // ball_in_cup.xml: cam0 pos="0 -1 .8" xyaxes="1 0 0 0 1 2"
  'ball_in_cup-catch': { body: 'world', pos: [0, -1, 0.8], mat: xyaxes([1, 0, 0], [0, 1, 2]), trackcom: false },
};

const owned: Physics[] = [];
afterAll(() => owned.forEach((p) => p.dispose()));
async function physics(id: string): Promise<Physics> {
  const p = new Physics(await loadMujoco(), getTask(id)!.xml, id);
  owned.push(p);
  return p;
}

describe('cameras', () => {
  it('covers every built-in MuJoCo task', () => {
    expect(MUJOCO_TASKS.map((t) => t.id).sort()).toEqual(Object.keys(DMC_CAMERA).sort());
  });

  it.each(Object.entries(DMC_CAMERA))('%s renders from dm_control camera 0: body, position, orientation, mode, 45 degree fovy', async (id, cam) => {
    const p = await physics(id);
    const c = p.cameraId(getTask(id)!.camera);
    expect(c).toBe(0);
    const m = p.model;
    expect((m.cam_bodyid as Int32Array)[c]).toBe(cam.body === 'world' ? 0 : p.bodyId(cam.body));
    expect(Array.from((m.cam_pos as Float64Array).subarray(3 * c, 3 * c + 3))).toEqual(cam.pos.map((v) => expect.closeTo(v, 12)));
    const mat = quatToMat((m.cam_quat as Float64Array).subarray(4 * c, 4 * c + 4));
    mat.forEach((v, k) => expect(v, `${id} rotation[${k}]`).toBeCloseTo(cam.mat[k]!, 6));
    // mjtCamLight: 0 fixed, 2 trackcom.
    expect((m.cam_mode as Int32Array)[c]).toBe(cam.trackcom ? 2 : 0);
    expect((m.cam_fovy as Float64Array)[c]).toBe(45);
  });

  it('pendulum: 2.12 m from its aim point, looking down 45 degrees', async () => {
    const p = await physics('pendulum-swingup');
    p.forward();
    const pos = (p.data.cam_xpos as Float64Array).slice(0, 3);
    const xm = p.data.cam_xmat as Float64Array;
    const fwd = [-xm[2]!, -xm[5]!, -xm[8]!];
    // Where the view axis meets the plane x = 0 at height 0.5 (just below the pole's pivot at 0.6).
    const t = (0.5 - pos[2]!) / fwd[2]!;
    expect(pos[1]! + t * fwd[1]!).toBeCloseTo(0, 9);
    expect(t).toBeCloseTo(1.5 * Math.SQRT2, 9);
    expect((Math.asin(-fwd[2]!) * 180) / Math.PI).toBeCloseTo(45, 9);
  });

  it('ball_in_cup: 1 m in front, 0.8 m up, looking down atan(1/2) = 26.6 degrees', async () => {
    const p = await physics('ball_in_cup-catch');
    p.forward();
    const xm = p.data.cam_xmat as Float64Array;
    expect((Math.asin(xm[8]!) * 180) / Math.PI).toBeCloseTo(26.565, 3);
    expect(Array.from((p.data.cam_xpos as Float64Array).slice(0, 3))).toEqual([0, -1, 0.8].map((v) => expect.closeTo(v, 12)));
  });
});

describe('shared visual settings (suite/common/visual.xml, skybox.xml, materials.xml)', () => {
  it.each(MUJOCO_TASKS.map((t) => t.id))('%s: head light ambient 0.4, diffuse 0.8, specular 0.1', async (id) => {
    const head = (await physics(id)).model.vis.headlight;
    expect(Number(head.active)).toBe(1);
    for (const [key, v] of [['ambient', 0.4], ['diffuse', 0.8], ['specular', 0.1]] as const) {
      expect(Array.from(head[key] as Float32Array), key).toEqual([v, v, v].map((x) => expect.closeTo(x, 6)));
    }
  });

  it.each(MUJOCO_TASKS.map((t) => t.id))('%s: the suite\'s materials, grid texture and gradient skybox', async (id) => {
    const p = await physics(id);
    const mj = await loadMujoco();
    const m = p.model;
    const rgba = m.mat_rgba as Float32Array;
    const material = (name: string): number[] => {
      const k = mj.mj_name2id(m, mj.mjtObj.mjOBJ_MATERIAL.value, name);
      expect(k, name).toBeGreaterThanOrEqual(0);
      return Array.from(rgba.subarray(4 * k, 4 * k + 4));
    };
    const near = (v: number[]): unknown[] => v.map((x) => expect.closeTo(x, 6));
    expect(material('self')).toEqual(near([0.7, 0.5, 0.3, 1]));
    expect(material('effector')).toEqual(near([0.7, 0.4, 0.2, 1]));
    expect(material('decoration')).toEqual(near([0.3, 0.5, 0.7, 1]));
    expect(material('target')).toEqual(near([0.6, 0.3, 0.3, 1]));
    // The grid: a 300 x 300 two-by-two checker of (.1 .2 .3) and (.2 .3 .4).
    const types = Array.from(m.tex_type as Int32Array);
    const grid = mj.mj_name2id(m, mj.mjtObj.mjOBJ_TEXTURE.value, 'grid');
    expect([types[grid], (m.tex_width as Int32Array)[grid], (m.tex_height as Int32Array)[grid]]).toEqual([0, 300, 300]);
    const data = m.tex_data as Uint8Array;
    const texel = (r: number, c: number): number[] => {
      const o = (m.tex_adr as Int32Array)[grid]! + 3 * (r * 300 + c);
      return [data[o]!, data[o + 1]!, data[o + 2]!];
    };
    const quadrants = new Set([texel(75, 75), texel(75, 225), texel(225, 75), texel(225, 225)].map((t) => t.join()));
    // 255 x rgb, truncated to bytes by MuJoCo.
    expect(quadrants).toEqual(new Set(['25,51,76', '51,76,102']));
    // mjTEXTURE_SKYBOX
    expect(types).toContain(2);
  });

  it('ball_in_cup: the string has no material, so it is drawn in MuJoCo\'s default grey', async () => {
    const m = (await physics('ball_in_cup-catch')).model;
    expect((m.tendon_matid as Int32Array)[0]).toBe(-1);
    expect(Array.from((m.tendon_rgba as Float32Array).subarray(0, 4))).toEqual([0.5, 0.5, 0.5, 1]);
  });
});

describe('rendered light', () => {
  it('cartpole: the cart\'s face towards the camera is lit by the suite\'s head light, by hand', async () => {
    const env = await MujocoEnv.create(getTask('cartpole-swingup')!, { imageSize: 100 });
    try {
      env.reset({ seed: 0 });
      env.physics.qpos.fill(0);
      env.physics.forward();
      const img = env.observe();
      // The face's normal is -y, the camera looks along +y: head light diffuse 0.8 x 1, ambient 0.4,
      // the light above grazes it (n.L = 0). Highlight: head specular 0.1 x material 0.5 x (n.h)^64,
      // with n.h within 1e-5 of 1 at the image centre. Colour 'self' (.7 .5 .3).
      const expected = [0.7, 0.5, 0.3].map((c) => c * (0.4 + 0.8) + 0.1 * 0.5);
      const o = 3 * (50 * 100 + 50);
      expected.forEach((v, k) => expect(Math.abs(img[o + k]! - v * 255), `channel ${k}`).toBeLessThanOrEqual(0.6));
      // MuJoCo's default head light (ambient 0.1, diffuse 0.4, specular 0.5) would give (.6 .5 .4).
    } finally {
      env.close();
    }
  });
});

/**
 * What the agent sees, against the Control Suite's models: the camera each
 * task renders from (dm_control's camera 0, which CURL's pixel wrappers use)
 * and the shared visual settings of suite/common/visual.xml.
 */
import { afterAll, describe, expect, it } from 'vitest';
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

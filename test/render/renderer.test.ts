import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Renderer, RenderError, type MjData, type MjModel, type MujocoModule } from '../../envs/render/index.js';
import { allTypesScene, frontScene } from './scenes.js';

let mj: MujocoModule;
const owned: { delete(): void }[] = [];

beforeAll(async () => {
  mj = await (await import('@mujoco/mujoco')).default();
});
afterAll(() => {
  for (const o of owned.reverse()) o.delete();
});

function load(xml: string): { model: MjModel; data: MjData } {
  const model = mj.MjModel.from_xml_string(xml);
  const data = new mj.MjData(model);
  owned.push(model, data);
  mj.mj_forward(model, data);
  return { model, data };
}

/** Pixels of pure-red geoms: lit red keeps green and blue at exactly 0, unlike sky or floor. */
function redPixels(img: Uint8Array, W: number, H: number): { count: number; ci: number; cj: number } {
  let count = 0, si = 0, sj = 0;
  for (let i = 0; i < H; i++) {
    for (let j = 0; j < W; j++) {
      const o = 3 * (i * W + j);
      if (img[o]! > 0 && img[o + 1] === 0 && img[o + 2] === 0) { count++; si += i; sj += j; }
    }
  }
  return { count, ci: si / count, cj: sj / count };
}

/** Camera-frame projection of a world point to continuous pixel coordinates. */
function project(data: MjData, cam: number, fovy: number, W: number, H: number, p: readonly number[]): [number, number] {
  const pos = data.cam_xpos as Float64Array, m = data.cam_xmat as Float64Array;
  const r = [p[0]! - pos[3 * cam]!, p[1]! - pos[3 * cam + 1]!, p[2]! - pos[3 * cam + 2]!];
  const col = (k: number): number => r[0]! * m[9 * cam + k]! + r[1]! * m[9 * cam + 3 + k]! + r[2]! * m[9 * cam + 6 + k]!;
  const x = col(0), y = col(1), z = -col(2);
  const th = Math.tan((fovy * Math.PI) / 360);
  const j = ((x / z / (th * (W / H)) + 1) * W) / 2 - 0.5;
  const i = ((1 - y / z / th) * H) / 2 - 0.5;
  return [i, j];
}

describe('Renderer', () => {
  it('puts a sphere straight ahead at the image centre with the projected radius', () => {
    const { model, data } = load(frontScene('<geom type="sphere" size="1" rgba="1 0 0 1"/>'));
    const W = 101, H = 101;
    const img = new Renderer(mj, model, { width: W, height: H, camera: 'front' }).render(data);
    const c = 3 * (50 * W + 50);
    expect(img[c]!).toBeGreaterThan(100);
    expect([img[c + 1], img[c + 2]]).toEqual([0, 0]);
    // Silhouette half-angle asin(r/d) = asin(1/5); in pixels tan(asin(0.2)) / tan(22.5 deg) * 101/2 = 24.886 (worked by hand),
    // so the pixel centres inside it are |j - 50| <= 24: 49 of them, on the centre row and on the centre column.
    let rowCount = 0, colCount = 0;
    for (let j = 0; j < W; j++) if (img[3 * (50 * W + j) + 1] === 0) rowCount++;
    for (let i = 0; i < H; i++) if (img[3 * (i * W + 50) + 1] === 0) colCount++;
    expect(rowCount).toBe(49);
    expect(colCount).toBe(49);
    const red = redPixels(img, W, H);
    expect(red.ci).toBeCloseTo(50, 6);
    expect(red.cj).toBeCloseTo(50, 6);
  });

  it('moves a box right in the image when it moves +x in the world, and up for +z', () => {
    const { model, data } = load(frontScene('<geom type="box" size="0.3 0.3 0.3" rgba="1 0 0 1"/>'));
    const W = 101, H = 101;
    const r = new Renderer(mj, model, { width: W, height: H });
    const at = (x: number, z: number): { count: number; ci: number; cj: number } => {
      const q = data.qpos as Float64Array;
      q[0] = x; q[1] = 0; q[2] = z;
      mj.mj_forward(model, data);
      return redPixels(r.render(data), W, H);
    };
    const base = at(0, 0);
    const right = at(0.5, 0);
    const up = at(0, 0.5);
    // 0.5 m at the front face's depth (4.7 m): 0.5 / 4.7 / tan(22.5) * 50.5 = 12.97 px.
    const expected = (0.5 / 4.7 / Math.tan(Math.PI / 8)) * 50.5;
    expect(right.cj - base.cj).toBeGreaterThan(expected - 1.5);
    expect(right.cj - base.cj).toBeLessThan(expected + 1.5);
    expect(Math.abs(right.ci - base.ci)).toBeLessThan(0.01);
    expect(base.ci - up.ci).toBeGreaterThan(expected - 1.5);
    expect(base.ci - up.ci).toBeLessThan(expected + 1.5);
  });

  it('gives identical bytes for the same state, across calls and instances', () => {
    const { model, data } = load(allTypesScene());
    const a = new Renderer(mj, model, { width: 64, height: 48 });
    const b = new Renderer(mj, model, { width: 64, height: 48 });
    const first = a.render(data);
    expect(Buffer.from(a.render(data)).equals(Buffer.from(first))).toBe(true);
    expect(Buffer.from(b.render(data)).equals(Buffer.from(first))).toBe(true);
  });

  it('draws every geom type and the tendon where their centres project', () => {
    const { model, data } = load(allTypesScene());
    const W = 160, H = 120;
    const r = new Renderer(mj, model, { width: W, height: H, camera: 'fixed' });
    const ids = new Int32Array(W * H);
    r.renderDepth(data, undefined, ids);
    const fovy = (model.cam_fovy as Float64Array)[0]!;
    const xpos = data.geom_xpos as Float64Array;
    for (const name of ['box', 'sphere', 'capsule', 'cylinder', 'ellipsoid']) {
      const g = mj.mj_name2id(model, mj.mjtObj.mjOBJ_GEOM.value, name);
      const [i, j] = project(data, 0, fovy, W, H, [xpos[3 * g]!, xpos[3 * g + 1]!, xpos[3 * g + 2]!]);
      expect(ids[Math.round(i) * W + Math.round(j)], name).toBe(g);
      expect(ids.filter((x) => x === g).length, name).toBeGreaterThan(30);
    }
    expect(ids.filter((x) => x === -2).length).toBeGreaterThan(20); // tendon
    expect(ids.filter((x) => x === -1).length).toBeGreaterThan(100); // sky
    // The textured floor shows both checker colours.
    const img = r.render(data);
    const colours = new Set<number>();
    const floor = mj.mj_name2id(model, mj.mjtObj.mjOBJ_GEOM.value, 'floor');
    ids.forEach((g, p) => { if (g === floor) colours.add((img[3 * p]! << 16) | (img[3 * p + 1]! << 8) | img[3 * p + 2]!); });
    expect(colours.size).toBeGreaterThan(2);
  });

  it('agrees with mj_ray on hit geom and distance for a grid of pixels', () => {
    const { model, data } = load(allTypesScene({ tendon: false }));
    const W = 64, H = 48;
    const r = new Renderer(mj, model, { width: W, height: H, camera: 'fixed' });
    const ids = new Int32Array(W * H);
    const depth = r.renderDepth(data, undefined, ids);
    const pos = data.cam_xpos as Float64Array, m = data.cam_xmat as Float64Array;
    const th = Math.tan(((model.cam_fovy as Float64Array)[0]! * Math.PI) / 360);
    const gid = new mj.IntBuffer(1), nrm = new mj.DoubleBuffer(3);
    let mismatches = 0, hits = 0;
    try {
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          const u = ((2 * (j + 0.5)) / W - 1) * th * (W / H), v = (1 - (2 * (i + 0.5)) / H) * th;
          const d = [0, 1, 2].map((k) => u * m[3 * k]! + v * m[3 * k + 1]! - m[3 * k + 2]!);
          const len = Math.hypot(d[0]!, d[1]!, d[2]!);
          const dist = mj.mj_ray(model, data, [pos[0]!, pos[1]!, pos[2]!], d.map((x) => x / len), [1, 1, 1, 0, 0, 0], true, -1, gid, nrm);
          const refId = dist < 0 ? -1 : (gid.GetView() as Int32Array)[0]!;
          const p = i * W + j;
          if (refId !== ids[p]) { mismatches++; continue; }
          if (refId >= 0) {
            hits++;
            expect(Math.abs(depth[p]! - dist)).toBeLessThan(1e-9);
          } else {
            expect(depth[p]).toBe(Infinity);
          }
        }
      }
    } finally {
      gid.delete();
      nrm.delete();
    }
    expect(hits).toBeGreaterThan(W * H * 0.5);
    // Only grazing silhouette pixels may round differently.
    expect(mismatches).toBeLessThanOrEqual(2);
  });

  it('hides geoms with alpha 0 or group >= 3', () => {
    const withHidden = load(allTypesScene({ hidden: true }));
    const without = load(allTypesScene({ hidden: false }));
    const a = new Renderer(mj, withHidden.model, { width: 80, height: 60 }).render(withHidden.data);
    const b = new Renderer(mj, without.model, { width: 80, height: 60 }).render(without.data);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('casts a shadow on the floor below a sphere, and only darkens', () => {
    const { model, data } = load(allTypesScene({ tendon: false, hidden: false }));
    const W = 80, H = 60;
    const lit = new Renderer(mj, model, { width: W, height: H, shadows: false }).render(data);
    const shadowed = new Renderer(mj, model, { width: W, height: H }).render(data);
    let darker = 0;
    for (let p = 0; p < lit.length; p++) {
      expect(shadowed[p]!).toBeLessThanOrEqual(lit[p]!);
      if (shadowed[p]! < lit[p]!) darker++;
    }
    expect(darker).toBeGreaterThan(30);
  });

  it('follows a tracking camera from data, and falls back to a free view without cameras', () => {
    const xml = `<mujoco><worldbody><geom type="plane" size="0 0 0.25" rgba=".2 .3 .4 1"/>
      <body name="b" pos="0 0 1"><freejoint/><geom type="sphere" size="0.2" rgba="1 0 0 1"/>
      <camera name="trk" mode="track" pos="0 -3 0" xyaxes="1 0 0 0 0 1"/></body></worldbody></mujoco>`;
    const { model, data } = load(xml);
    const r = new Renderer(mj, model, { width: 50, height: 50, camera: 'trk' });
    const before = r.render(data);
    (data.qpos as Float64Array)[0] = 0.37;
    mj.mj_forward(model, data);
    const after = r.render(data);
    const a = redPixels(before, 50, 50), b = redPixels(after, 50, 50);
    expect(b.count).toBe(a.count);
    expect(b.cj).toBeCloseTo(a.cj, 9);
    expect(Buffer.from(after).equals(Buffer.from(before))).toBe(false); // the floor slid by

    const free = load('<mujoco><worldbody><geom type="box" size="0.5 0.5 0.5" rgba="1 0 0 1"/></worldbody></mujoco>');
    const fr = new Renderer(mj, free.model, { width: 40, height: 40 });
    expect(fr.cameraId).toBe(-1);
    const img = fr.render(free.data);
    const red = redPixels(img, 40, 40);
    expect(red.count).toBeGreaterThan(50);
    // The default view looks at the model's centre, where the box is.
    expect(red.ci).toBeGreaterThan(17);
    expect(red.ci).toBeLessThan(22);
    expect(red.cj).toBeCloseTo(19.5, 6);
  });

  it('writes into the given buffer of width*height*3 and rejects bad input', () => {
    const { model, data } = load(frontScene('<geom type="sphere" size="1" rgba="1 0 0 1"/>'));
    const r = new Renderer(mj, model, { width: 30, height: 20, camera: 0 });
    const out = new Uint8Array(30 * 20 * 3);
    expect(r.render(data, out)).toBe(out);
    expect(r.render(data).length).toBe(1800);
    expect(() => r.render(data, new Uint8Array(10))).toThrow(/expected width\*height\*3 = 30\*20\*3 = 1800/);
    expect(() => new Renderer(mj, model, { width: 0, height: 20 })).toThrow(RenderError);
    expect(() => new Renderer(mj, model, { width: 10, height: 2.5 })).toThrow(/height/);
    expect(() => new Renderer(mj, model, { width: 10, height: 10, camera: 'side' })).toThrow(/no camera named "side".*"front"/);
    expect(() => new Renderer(mj, model, { width: 10, height: 10, camera: 3 })).toThrow(/out of range/);
    r.dispose();
    expect(() => r.render(data, out)).toThrow(/after dispose/);
  });
});

describe('Renderer: light, floor texture and sky as MuJoCo draws them', () => {
  it('lights with a head light along the view axis: a flat face facing the camera is one colour edge to edge', () => {
    const { model, data } = load(`<mujoco>
      <visual><headlight ambient=".2 .2 .2" diffuse=".6 .6 .6" specular="0 0 0"/></visual>
      <worldbody><light pos="0 0 5" dir="0 0 -1" diffuse="0 0 0" specular="0 0 0"/>
      <camera name="c" pos="0 -2 0" xyaxes="1 0 0 0 0 1" fovy="60"/>
      <geom type="box" size="5 0.1 5" rgba=".6 .6 .6 1"/></worldbody></mujoco>`);
    const img = new Renderer(mj, model, { width: 21, height: 21, camera: 'c' }).render(data);
    // 0.6 x (ambient 0.2 + diffuse 0.6 x n.(-forward) = 1) = 0.48, in every pixel (a light at the
    // camera would shade the edges, 30 degrees off the axis, 13% darker).
    expect(new Set(img)).toEqual(new Set([Math.round(0.48 * 255)]));
  });

  it('adds a white Blinn-Phong highlight: head light specular x material specular at the centre, fading outwards', () => {
    const scene = (specular: number): string => `<mujoco>
      <visual><headlight ambient=".2 .2 .2" diffuse=".4 .4 .4" specular=".3 .3 .3"/></visual>
      <asset><material name="m" rgba=".5 .1 .1 1" specular="${specular}" shininess=".5"/></asset>
      <worldbody><light pos="0 0 5" dir="0 0 -1" diffuse="0 0 0" specular="0 0 0"/>
      <camera name="front" pos="0 -5 0" xyaxes="1 0 0 0 0 1" fovy="45"/>
      <geom type="sphere" size="1" material="m"/></worldbody></mujoco>`;
    const W = 41, mid = 20;
    const glossy = new Renderer(mj, load(scene(0.5)).model, { width: W, height: W, camera: 'front' });
    const matte = new Renderer(mj, load(scene(0)).model, { width: W, height: W, camera: 'front' });
    const g = glossy.render(load(scene(0.5)).data), m = matte.render(load(scene(0)).data);
    // At the centre n, L and V all point at the camera: (n.h)^64 = 1, highlight 0.5 x 0.3 = 0.15.
    const c = 3 * (mid * W + mid);
    expect(m[c]).toBe(Math.round(0.5 * 0.6 * 255));
    expect(g[c]! - m[c]!).toBeGreaterThanOrEqual(Math.floor(0.15 * 255));
    expect(g[c]! - m[c]!).toBeLessThanOrEqual(Math.ceil(0.15 * 255));
    // White: the same amount on every channel (up to each channel's rounding).
    expect(Math.abs(g[c + 1]! - m[c + 1]! - (g[c]! - m[c]!))).toBeLessThanOrEqual(1);
    const extra = Array.from({ length: W - mid }, (_, k) => g[3 * (mid * W + mid + k) + 1]! - m[3 * (mid * W + mid + k) + 1]!);
    for (let k = 1; k < extra.length; k++) expect(extra[k]!).toBeLessThanOrEqual(extra[k - 1]!);
    expect(extra[6]).toBe(0); // exponent 64: gone well inside the silhouette (radius about 12 px)
  });

  it('maps a uniform grid texture like MuJoCo: 1 m checker squares meeting at the origin, texel colours unscaled', () => {
    const { model, data } = load(`<mujoco>
      <visual><headlight ambient=".4 .4 .4" diffuse=".8 .8 .8" specular="0 0 0"/></visual>
      <asset><texture name="grid" type="2d" builtin="checker" rgb1=".1 .2 .3" rgb2=".2 .3 .4" width="300" height="300"/>
      <material name="grid" texture="grid" texrepeat="1 1" texuniform="true"/></asset>
      <worldbody><camera name="down" pos="0 0 1.5" xyaxes="1 0 0 0 1 0" fovy="90"/>
      <geom type="plane" size="5 5 .1" material="grid"/></worldbody></mujoco>`);
    const W = 60;
    const img = new Renderer(mj, model, { width: W, height: W, camera: 'down' }).render(data);
    // Pixel column j sees x = 0.05 j - 1.475, row i sees y = 1.475 - 0.05 i.
    const at = (x: number, y: number): string => {
      const j = Math.round((x + 1.475) / 0.05), i = Math.round((1.475 - y) / 0.05);
      return Array.from(img.subarray(3 * (i * W + j), 3 * (i * W + j) + 3)).join();
    };
    // Lighting 0.4 + 0.8 clamps to 1 before the texture modulates it: the texels' bytes exactly.
    expect(new Set([at(0.275, 0.475), at(-0.225, 0.475)])).toEqual(new Set(['25,51,76', '51,76,102']));
    expect(at(0.775, 0.475)).toBe(at(0.275, 0.475)); // same 1 m square (0.5 m squares would split them)
    expect(at(0.275, 0.975)).toBe(at(0.275, 0.075));
    expect(at(0.275, -0.475)).not.toBe(at(0.275, 0.475));
    expect(at(-0.225, -0.475)).toBe(at(0.275, 0.475));
  });

  it('shows the model\'s skybox unlit, by view direction: gradient rgb1 at the zenith, rgb2 at the nadir', () => {
    const sky = `<asset><texture type="skybox" builtin="gradient" rgb1="1 0 0" rgb2="0 0 1" width="64" height="64"/></asset>`;
    const look = (xyaxes: string): Uint8Array => {
      const { model, data } = load(`<mujoco>${sky}<worldbody><light pos="0 0 1"/>
        <camera name="c" pos="0 0 0" xyaxes="${xyaxes}" fovy="10"/></worldbody></mujoco>`);
      return new Renderer(mj, model, { width: 9, height: 9, camera: 'c' }).render(data);
    };
    const centre = (img: Uint8Array): number[] => Array.from(img.subarray(3 * 40, 3 * 40 + 3));
    const near = (v: number[]): unknown[] => v.map((x) => expect.toSatisfy((y: number) => Math.abs(y - x) <= 4));
    // A camera looks along its -z = -(x cross y).
    expect(centre(look('1 0 0 0 -1 0'))).toEqual(near([255, 0, 0])); // looking up
    expect(centre(look('1 0 0 0 1 0'))).toEqual(near([0, 0, 255])); // looking down
    const horizon = look('1 0 0 0 0 1');
    expect(centre(horizon)).toEqual(near([127, 0, 127]));
    // Above the horizon it reddens; the same whichever way the camera faces.
    expect(horizon[0]!).toBeGreaterThan(horizon[3 * 80]!);
    expect(centre(look('0 1 0 0 0 1'))).toEqual(centre(horizon));
  });
});

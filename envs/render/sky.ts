/*
 * The model's skybox, looked up the way MuJoCo's OpenGL renderer draws it:
 * unlit, centred on the camera, so a pixel's sky colour depends only on its
 * ray direction. MuJoCo stores a skybox as the six faces of a GL cube map
 * (+x, -x, +y, -y, +z, -z, each width x width texels, one after another) and
 * maps world (x, y, z) to cube coordinates (x, z, -y), so the +y face is the
 * zenith.
 */
import { field, type MjModel } from './mujoco.js';

/** mjTEXTURE_SKYBOX */
const TEXTURE_SKYBOX = 2;

export interface Skybox {
  /** Texture id in the model. */
  readonly id: number;
  readonly width: number;
  readonly channels: number;
  /** Offset of the first face in tex_data. */
  readonly adr: number;
}

/** The first skybox texture (the one MuJoCo draws), or null when the model has none usable. */
export function findSkybox(model: MjModel): Skybox | null {
  const n = model.ntex;
  if (n === 0) return null;
  const type = field(model, 'tex_type', Int32Array);
  const w = field(model, 'tex_width', Int32Array), h = field(model, 'tex_height', Int32Array);
  const nc = field(model, 'tex_nchannel', Int32Array), adr = field(model, 'tex_adr', Int32Array);
  for (let t = 0; t < n; t++) {
    if (type[t] !== TEXTURE_SKYBOX) continue;
    const width = w[t]!, channels = nc[t]!;
    // Only the six-face cube layout; a single-image skybox is rare and left to the fallback sky.
    if (width <= 0 || h[t] !== 6 * width || channels < 3) return null;
    return { id: t, width, channels, adr: adr[t]! };
  }
  return null;
}

/**
 * Writes the RGB bytes the skybox shows along world direction (dx, dy, dz)
 * (any length) into out[o..o+2]. Nearest texel: the suite's gradient changes
 * by under one byte between neighbouring texels of an 800-texel face.
 */
export function skyboxTexel(
  sky: Skybox, texData: Uint8Array, dx: number, dy: number, dz: number, out: Uint8Array, o: number,
): void {
  // Cube-map coordinates as MuJoCo's texgen sets them: (x, z, -y).
  const rx = dx, ry = dz, rz = -dy;
  const ax = Math.abs(rx), ay = Math.abs(ry), az = Math.abs(rz);
  let face: number, sc: number, tc: number, ma: number;
  // Face selection and (sc, tc) per the OpenGL cube-map rules.
  if (ax >= ay && ax >= az) {
    ma = ax;
    if (rx > 0) { face = 0; sc = -rz; tc = -ry; } else { face = 1; sc = rz; tc = -ry; }
  } else if (ay >= az) {
    ma = ay;
    if (ry > 0) { face = 2; sc = rx; tc = rz; } else { face = 3; sc = rx; tc = -rz; }
  } else {
    ma = az;
    if (rz > 0) { face = 4; sc = rx; tc = -ry; } else { face = 5; sc = -rx; tc = -ry; }
  }
  const W = sky.width;
  let col = Math.floor(((sc / ma + 1) / 2) * W), row = Math.floor(((tc / ma + 1) / 2) * W);
  if (col >= W) col = W - 1;
  if (row >= W) row = W - 1;
  const p = sky.adr + sky.channels * ((face * W + row) * W + col);
  out[o] = texData[p]!; out[o + 1] = texData[p + 1]!; out[o + 2] = texData[p + 2]!;
}

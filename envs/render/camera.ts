/*
 * Which camera a Renderer looks through, and the pinhole arithmetic that maps
 * pixels to rays. MuJoCo cameras look along their local -z with +y up and +x
 * right; cam_xmat is row-major, so its columns are those axes in the world.
 */
import { RenderError } from './errors.js';
import { field, nameAt, type MjModel } from './mujoco.js';

/** Camera id; FREE_CAMERA means the fixed default view (no model camera). */
export const FREE_CAMERA = -1;

export function cameraNames(model: MjModel): string[] {
  const adr = field(model, 'name_camadr', Int32Array);
  const names: unknown = (model as unknown as { names: unknown }).names;
  return Array.from(adr, (a) => nameAt(names, a));
}

/** Resolves the RenderOptions.camera value to a camera id (or FREE_CAMERA). */
export function resolveCamera(model: MjModel, camera: string | number | undefined): number {
  const ncam = model.ncam;
  if (camera === undefined) return ncam > 0 ? 0 : FREE_CAMERA;
  if (typeof camera === 'number') {
    if (!Number.isInteger(camera) || camera < FREE_CAMERA || camera >= ncam) {
      throw new RenderError(
        `camera id ${camera} is out of range: this model has ${ncam} camera(s); ` +
          `expected an integer in [-1, ${ncam - 1}] (-1 = the default free view)`,
      );
    }
    return camera;
  }
  const names = cameraNames(model);
  const id = names.indexOf(camera);
  if (id < 0) {
    const known = names.filter((n) => n !== '').map((n) => `"${n}"`);
    throw new RenderError(
      `no camera named "${camera}" in the model; named cameras: ${known.length > 0 ? known.join(', ') : 'none'}`,
    );
  }
  return id;
}

export interface CameraPose {
  /** World position. */
  readonly pos: Float64Array;
  /** Row-major world rotation; columns are the camera's right, up, backward axes. */
  readonly mat: Float64Array;
  /** Vertical field of view, degrees. */
  readonly fovy: number;
}

/**
 * The view MuJoCo's own viewer starts with (mjv_defaultFreeCamera): looking at
 * the model's centre from 1.5 extents away, at the visual azimuth/elevation.
 */
export function freeCameraPose(model: MjModel): CameraPose {
  const center = model.stat.center as Float64Array;
  const extent = Number(model.stat.extent);
  const g = model.vis.global;
  const az = (Number(g.azimuth) * Math.PI) / 180;
  const el = (Number(g.elevation) * Math.PI) / 180;
  const fx = Math.cos(el) * Math.cos(az), fy = Math.cos(el) * Math.sin(az), fz = Math.sin(el);
  const dist = 1.5 * (extent > 0 ? extent : 1);
  const pos = new Float64Array([
    (center[0] ?? 0) - dist * fx, (center[1] ?? 0) - dist * fy, (center[2] ?? 0) - dist * fz,
  ]);
  // right = forward x world-up; a straight-down view falls back to +x right.
  let rx = fy, ry = -fx;
  const rl = Math.hypot(rx, ry);
  if (rl < 1e-9) { rx = 1; ry = 0; } else { rx /= rl; ry /= rl; }
  const ux = ry * fz, uy = -rx * fz, uz = rx * fy - ry * fx; // up = right x forward
  const mat = new Float64Array([rx, ux, -fx, ry, uy, -fy, 0, uz, -fz]);
  return { pos, mat, fovy: Number(g.fovy) };
}

/**
 * Image-plane coordinates of pixel centres at unit depth: column j maps to
 * uCol[j] (rightwards), row i (0 = top) to vRow[i] (upwards).
 */
export function pixelCoords(width: number, height: number, fovyDeg: number): { uCol: Float64Array; vRow: Float64Array; tanHalf: number } {
  const tanHalf = Math.tan((fovyDeg * Math.PI) / 360);
  const aspect = width / height;
  const uCol = new Float64Array(width);
  const vRow = new Float64Array(height);
  for (let j = 0; j < width; j++) uCol[j] = ((2 * (j + 0.5)) / width - 1) * tanHalf * aspect;
  for (let i = 0; i < height; i++) vRow[i] = (1 - (2 * (i + 0.5)) / height) * tanHalf;
  return { uCol, vRow, tanHalf };
}

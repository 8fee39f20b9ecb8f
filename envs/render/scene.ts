/*
 * The per-frame primitive table: every visible geom and tendon segment with
 * its pose, size and colour, plus what the pixel loop needs precomputed once
 * per frame (camera origin and ray basis in the primitive's frame, the light
 * direction in that frame, and the conservative screen rectangle it covers).
 * One flat Float64Array, grown rarely, so a frame allocates nothing.
 */
import {
  GEOM_BOX, GEOM_CAPSULE, GEOM_CYLINDER, GEOM_ELLIPSOID, GEOM_PLANE, GEOM_SPHERE, localHalfExtents,
} from './intersect.js';

export const P_TYPE = 0;
/** Material id whose texture a plane samples, or -1. */
export const P_TEX = 1;
export const P_POS = 2;
/** Row-major world rotation (local -> world), 9 entries. */
export const P_MAT = 5;
export const P_SIZE = 14;
/** Base colour, 0..1. */
export const P_COLOR = 17;
/** Cell size of a procedural checker (untextured planes), 0 for none. */
export const P_CHECK = 20;
/** Camera origin in the local frame. */
export const P_OL = 21;
/** Camera right, up, forward axes in the local frame. */
export const P_RL = 24;
export const P_UL = 27;
export const P_FL = 30;
/** Direction towards the shadow-casting light, in the local frame. */
export const P_LL = 33;
/** Bounding-sphere radius. */
export const P_RAD = 36;
/** Screen rectangle, inclusive pixel bounds; i0 > i1 means off-screen. */
export const P_J0 = 37;
export const P_J1 = 38;
export const P_I0 = 39;
export const P_I1 = 40;
/** Source geom id, or -1 for a tendon segment. */
export const P_GEOM = 41;
/** Texture coordinates per local metre along x and y (textured planes). */
export const P_TEXSX = 42;
export const P_TEXSY = 43;
/** Material specular weight and Blinn-Phong exponent (MuJoCo: 128 x shininess). */
export const P_SPEC = 44;
export const P_SHINE = 45;
/** Squared cosine below which every light's highlight rounds to nothing. */
export const P_SPECCUT2 = 46;
export const STRIDE = 47;

export class PrimitiveTable {
  data: Float64Array;
  count = 0;

  constructor(capacity: number) {
    this.data = new Float64Array(Math.max(1, capacity) * STRIDE);
  }

  /** Offset of a new primitive's slot, growing the table when full. */
  push(): number {
    if ((this.count + 1) * STRIDE > this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    return this.count++ * STRIDE;
  }

  clear(): void {
    this.count = 0;
  }
}

export function boundingRadius(type: number, s0: number, s1: number, s2: number): number {
  switch (type) {
    case GEOM_SPHERE: return s0;
    case GEOM_CAPSULE: return s0 + s1;
    case GEOM_CYLINDER: return Math.sqrt(s0 * s0 + s1 * s1);
    case GEOM_ELLIPSOID: return Math.max(s0, s1, s2);
    case GEOM_BOX: return Math.sqrt(s0 * s0 + s1 * s1 + s2 * s2);
    default: return Infinity;
  }
}

/**
 * Fills a capsule slot for the segment a-b (a tendon piece). Its local z runs
 * along the segment; x and y are any perpendicular pair.
 */
export function writeSegment(
  P: Float64Array, b: number,
  ax: number, ay: number, az: number, bx: number, by: number, bz: number, radius: number,
): void {
  let zx = bx - ax, zy = by - ay, zz = bz - az;
  const len = Math.sqrt(zx * zx + zy * zy + zz * zz);
  if (len > 0) { zx /= len; zy /= len; zz /= len; } else { zx = 0; zy = 0; zz = 1; }
  // Cross with the world axis least aligned with z to get a stable x.
  let xx: number, xy: number, xz: number;
  if (Math.abs(zx) < 0.9) { xx = 0; xy = zz; xz = -zy; } else { xx = -zz; xy = 0; xz = zx; }
  const xl = Math.sqrt(xx * xx + xy * xy + xz * xz);
  xx /= xl; xy /= xl; xz /= xl;
  const yx = zy * xz - zz * xy, yy = zz * xx - zx * xz, yz = zx * xy - zy * xx;
  P[b + P_TYPE] = GEOM_CAPSULE;
  P[b + P_GEOM] = -1;
  P[b + P_POS] = (ax + bx) / 2; P[b + P_POS + 1] = (ay + by) / 2; P[b + P_POS + 2] = (az + bz) / 2;
  const m = b + P_MAT;
  P[m] = xx; P[m + 1] = yx; P[m + 2] = zx;
  P[m + 3] = xy; P[m + 4] = yy; P[m + 5] = zy;
  P[m + 6] = xz; P[m + 7] = yz; P[m + 8] = zz;
  P[b + P_SIZE] = radius; P[b + P_SIZE + 1] = len / 2; P[b + P_SIZE + 2] = 0;
  P[b + P_RAD] = radius + len / 2;
}

/** The camera for one frame: world pose and projection constants. */
export interface FrameCamera {
  px: number; py: number; pz: number;
  /** right, up, forward (= -backward) world axes */
  rx: number; ry: number; rz: number;
  ux: number; uy: number; uz: number;
  fx: number; fy: number; fz: number;
  /** tan(fovy/2) and width/height */
  tanHalf: number; aspect: number;
  width: number; height: number;
}

const ext = new Float64Array(3);

/**
 * Precomputes, for primitive slot b, the camera-local quantities and its screen
 * rectangle. The rectangle bounds the projection of the primitive's local
 * bounding box: exact-conservative while the box is in front of the camera,
 * the whole image when it straddles the camera plane, empty when behind.
 */
export function prepareForCamera(
  P: Float64Array, b: number, cam: FrameCamera, lx: number, ly: number, lz: number,
): void {
  const m = b + P_MAT;
  const r0 = P[m]!, r1 = P[m + 1]!, r2 = P[m + 2]!, r3 = P[m + 3]!, r4 = P[m + 4]!, r5 = P[m + 5]!,
    r6 = P[m + 6]!, r7 = P[m + 7]!, r8 = P[m + 8]!;
  const cx = P[b + P_POS]!, cy = P[b + P_POS + 1]!, cz = P[b + P_POS + 2]!;
  // local = R^T (world - centre)
  const ox = cam.px - cx, oy = cam.py - cy, oz = cam.pz - cz;
  P[b + P_OL] = r0 * ox + r3 * oy + r6 * oz;
  P[b + P_OL + 1] = r1 * ox + r4 * oy + r7 * oz;
  P[b + P_OL + 2] = r2 * ox + r5 * oy + r8 * oz;
  P[b + P_RL] = r0 * cam.rx + r3 * cam.ry + r6 * cam.rz;
  P[b + P_RL + 1] = r1 * cam.rx + r4 * cam.ry + r7 * cam.rz;
  P[b + P_RL + 2] = r2 * cam.rx + r5 * cam.ry + r8 * cam.rz;
  P[b + P_UL] = r0 * cam.ux + r3 * cam.uy + r6 * cam.uz;
  P[b + P_UL + 1] = r1 * cam.ux + r4 * cam.uy + r7 * cam.uz;
  P[b + P_UL + 2] = r2 * cam.ux + r5 * cam.uy + r8 * cam.uz;
  P[b + P_FL] = r0 * cam.fx + r3 * cam.fy + r6 * cam.fz;
  P[b + P_FL + 1] = r1 * cam.fx + r4 * cam.fy + r7 * cam.fz;
  P[b + P_FL + 2] = r2 * cam.fx + r5 * cam.fy + r8 * cam.fz;
  P[b + P_LL] = r0 * lx + r3 * ly + r6 * lz;
  P[b + P_LL + 1] = r1 * lx + r4 * ly + r7 * lz;
  P[b + P_LL + 2] = r2 * lx + r5 * ly + r8 * lz;

  const W = cam.width, H = cam.height;
  const type = P[b + P_TYPE]!;
  if (type === GEOM_PLANE) {
    setRect(P, b, 0, W - 1, 0, H - 1);
    return;
  }
  localHalfExtents(type, P[b + P_SIZE]!, P[b + P_SIZE + 1]!, P[b + P_SIZE + 2]!, ext);
  const ex = ext[0]!, ey = ext[1]!, ez = ext[2]!;
  // Centre and scaled local axes in camera coordinates (x right, y up, z depth).
  const qx = -ox, qy = -oy, qz = -oz;
  const ccx = qx * cam.rx + qy * cam.ry + qz * cam.rz;
  const ccy = qx * cam.ux + qy * cam.uy + qz * cam.uz;
  const ccz = qx * cam.fx + qy * cam.fy + qz * cam.fz;
  const axx = ex * (r0 * cam.rx + r3 * cam.ry + r6 * cam.rz), axy = ex * (r0 * cam.ux + r3 * cam.uy + r6 * cam.uz), axz = ex * (r0 * cam.fx + r3 * cam.fy + r6 * cam.fz);
  const ayx = ey * (r1 * cam.rx + r4 * cam.ry + r7 * cam.rz), ayy = ey * (r1 * cam.ux + r4 * cam.uy + r7 * cam.uz), ayz = ey * (r1 * cam.fx + r4 * cam.fy + r7 * cam.fz);
  const azx = ez * (r2 * cam.rx + r5 * cam.ry + r8 * cam.rz), azy = ez * (r2 * cam.ux + r5 * cam.uy + r8 * cam.uz), azz = ez * (r2 * cam.fx + r5 * cam.fy + r8 * cam.fz);
  let umin = Infinity, umax = -Infinity, vmin = Infinity, vmax = -Infinity, zmin = Infinity, zmax = -Infinity;
  for (let c = 0; c < 8; c++) {
    const sx = c & 1 ? 1 : -1, sy = c & 2 ? 1 : -1, sz = c & 4 ? 1 : -1;
    const x = ccx + sx * axx + sy * ayx + sz * azx;
    const y = ccy + sx * axy + sy * ayy + sz * azy;
    const z = ccz + sx * axz + sy * ayz + sz * azz;
    if (z < zmin) zmin = z;
    if (z > zmax) zmax = z;
    if (z > 0) {
      const u = x / z, v = y / z;
      if (u < umin) umin = u;
      if (u > umax) umax = u;
      if (v < vmin) vmin = v;
      if (v > vmax) vmax = v;
    }
  }
  if (zmax <= 0) { setRect(P, b, 1, 0, 1, 0); return; }
  if (zmin <= 1e-9) { setRect(P, b, 0, W - 1, 0, H - 1); return; }
  const su = W / (2 * cam.tanHalf * cam.aspect), sv = H / (2 * cam.tanHalf);
  const j0 = Math.max(0, Math.floor(umin * su + W / 2 - 0.5));
  const j1 = Math.min(W - 1, Math.ceil(umax * su + W / 2 - 0.5));
  // Rows grow downwards while v grows upwards.
  const i0 = Math.max(0, Math.floor(H / 2 - vmax * sv - 0.5));
  const i1 = Math.min(H - 1, Math.ceil(H / 2 - vmin * sv - 0.5));
  if (j0 > j1 || i0 > i1) setRect(P, b, 1, 0, 1, 0);
  else setRect(P, b, j0, j1, i0, i1);
}

function setRect(P: Float64Array, b: number, j0: number, j1: number, i0: number, i1: number): void {
  P[b + P_J0] = j0; P[b + P_J1] = j1; P[b + P_I0] = i0; P[b + P_I1] = i1;
}

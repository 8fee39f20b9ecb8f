/*
 * Analytic ray/primitive intersections in the primitive's own frame (centre at
 * the origin, axes aligned), for the MuJoCo geom types we draw. Rays are
 * o + t d with d not necessarily unit length; each function returns the
 * smallest t > tMin at which the ray enters the surface, or Infinity.
 *
 * They take scalars rather than vectors so the per-pixel loop allocates
 * nothing, and they mirror the conventions of MuJoCo's own mj_ray (planes are
 * one-sided and bounded by size[0], size[1] when those are positive), so
 * mj_ray serves as the reference in tests.
 */

/** mjtGeom codes, shared with MuJoCo so geom_type values map directly. */
export const GEOM_PLANE = 0;
export const GEOM_SPHERE = 2;
export const GEOM_CAPSULE = 3;
export const GEOM_ELLIPSOID = 4;
export const GEOM_CYLINDER = 5;
export const GEOM_BOX = 6;

export function isSupportedGeom(type: number): boolean {
  return type === GEOM_PLANE || (type >= GEOM_SPHERE && type <= GEOM_BOX);
}

const MISS = Infinity;

/** Smallest root > tMin of a t^2 + 2 b t + c = 0 (a > 0). */
function firstRoot(a: number, b: number, c: number, tMin: number): number {
  const disc = b * b - a * c;
  if (disc < 0) return MISS;
  const sq = Math.sqrt(disc);
  const t0 = (-b - sq) / a;
  if (t0 > tMin) return t0;
  const t1 = (-b + sq) / a;
  return t1 > tMin ? t1 : MISS;
}

export function raySphere(
  r: number, ox: number, oy: number, oz: number, dx: number, dy: number, dz: number, tMin: number,
): number {
  return firstRoot(dx * dx + dy * dy + dz * dz, ox * dx + oy * dy + oz * dz, ox * ox + oy * oy + oz * oz - r * r, tMin);
}

export function rayEllipsoid(
  sx: number, sy: number, sz: number,
  ox: number, oy: number, oz: number, dx: number, dy: number, dz: number, tMin: number,
): number {
  // Scaling space by 1/s maps the ellipsoid to the unit sphere and keeps t.
  const px = ox / sx, py = oy / sy, pz = oz / sz;
  const qx = dx / sx, qy = dy / sy, qz = dz / sz;
  return firstRoot(qx * qx + qy * qy + qz * qz, px * qx + py * qy + pz * qz, px * px + py * py + pz * pz - 1, tMin);
}

export function rayPlane(
  sx: number, sy: number, ox: number, oy: number, oz: number, dx: number, dy: number, dz: number, tMin: number,
): number {
  // One-sided like mj_ray: only rays travelling against the +z normal hit.
  if (dz >= 0) return MISS;
  const t = -oz / dz;
  if (!(t > tMin)) return MISS;
  if (sx > 0 && Math.abs(ox + t * dx) > sx) return MISS;
  if (sy > 0 && Math.abs(oy + t * dy) > sy) return MISS;
  return t;
}

export function rayBox(
  sx: number, sy: number, sz: number,
  ox: number, oy: number, oz: number, dx: number, dy: number, dz: number, tMin: number,
): number {
  let tn = -Infinity, tf = Infinity;
  if (dx !== 0) {
    const a = (-sx - ox) / dx, b = (sx - ox) / dx;
    if (a < b) { tn = a; tf = b; } else { tn = b; tf = a; }
  } else if (ox < -sx || ox > sx) return MISS;
  if (dy !== 0) {
    const a = (-sy - oy) / dy, b = (sy - oy) / dy;
    const lo = a < b ? a : b, hi = a < b ? b : a;
    if (lo > tn) tn = lo;
    if (hi < tf) tf = hi;
  } else if (oy < -sy || oy > sy) return MISS;
  if (dz !== 0) {
    const a = (-sz - oz) / dz, b = (sz - oz) / dz;
    const lo = a < b ? a : b, hi = a < b ? b : a;
    if (lo > tn) tn = lo;
    if (hi < tf) tf = hi;
  } else if (oz < -sz || oz > sz) return MISS;
  if (tn > tf) return MISS;
  if (tn > tMin) return tn;
  return tf > tMin ? tf : MISS;
}

/** Capsule of radius r around the z segment [-h, h]. */
export function rayCapsule(
  r: number, h: number, ox: number, oy: number, oz: number, dx: number, dy: number, dz: number, tMin: number,
): number {
  let best = MISS;
  const a = dx * dx + dy * dy;
  const c = ox * ox + oy * oy - r * r;
  if (a > 0) {
    const b = ox * dx + oy * dy;
    const disc = b * b - a * c;
    // Missing the infinite cylinder means missing the capsule inside it.
    if (disc < 0) return MISS;
    const sq = Math.sqrt(disc);
    const t0 = (-b - sq) / a;
    if (t0 > tMin) {
      // Entering the infinite cylinder within the segment is the first hit.
      if (Math.abs(oz + t0 * dz) <= h) return t0;
    } else {
      const t1 = (-b + sq) / a;
      if (t1 > tMin && Math.abs(oz + t1 * dz) <= h) best = t1;
    }
  } else if (c > 0) return MISS;
  const dd = a + dz * dz;
  best = capHit(r, h, ox, oy, oz, dx, dy, dz, dd, tMin, best);
  return capHit(r, -h, ox, oy, oz, dx, dy, dz, dd, tMin, best);
}

/** Hemispherical cap of a capsule centred at z = zc, facing away from 0. */
function capHit(
  r: number, zc: number, ox: number, oy: number, oz: number,
  dx: number, dy: number, dz: number, dd: number, tMin: number, best: number,
): number {
  const pz = oz - zc;
  const b = ox * dx + oy * dy + pz * dz;
  const disc = b * b - dd * (ox * ox + oy * oy + pz * pz - r * r);
  if (disc < 0) return best;
  const sq = Math.sqrt(disc);
  const up = zc >= 0;
  const t0 = (-b - sq) / dd;
  if (t0 > tMin && t0 < best) {
    const z = oz + t0 * dz;
    if (up ? z >= zc : z <= zc) return t0;
  }
  const t1 = (-b + sq) / dd;
  if (t1 > tMin && t1 < best) {
    const z = oz + t1 * dz;
    if (up ? z >= zc : z <= zc) return t1;
  }
  return best;
}

/** Solid cylinder of radius r, z in [-h, h]. */
export function rayCylinder(
  r: number, h: number, ox: number, oy: number, oz: number, dx: number, dy: number, dz: number, tMin: number,
): number {
  let best = MISS;
  const a = dx * dx + dy * dy;
  const c = ox * ox + oy * oy - r * r;
  if (a > 0) {
    const b = ox * dx + oy * dy;
    const disc = b * b - a * c;
    if (disc < 0) return MISS;
    const sq = Math.sqrt(disc);
    const t0 = (-b - sq) / a;
    if (t0 > tMin) {
      if (Math.abs(oz + t0 * dz) <= h) return t0;
    } else {
      const t1 = (-b + sq) / a;
      if (t1 > tMin && Math.abs(oz + t1 * dz) <= h) best = t1;
    }
  } else if (c > 0) return MISS;
  if (dz !== 0) {
    const r2 = r * r;
    const t0 = (h - oz) / dz;
    if (t0 > tMin && t0 < best) {
      const x = ox + t0 * dx, y = oy + t0 * dy;
      if (x * x + y * y <= r2) best = t0;
    }
    const t1 = (-h - oz) / dz;
    if (t1 > tMin && t1 < best) {
      const x = ox + t1 * dx, y = oy + t1 * dy;
      if (x * x + y * y <= r2) best = t1;
    }
  }
  return best;
}

/** Dispatches on the mjtGeom code; unsupported types never hit. */
export function rayPrimitive(
  type: number, s0: number, s1: number, s2: number,
  ox: number, oy: number, oz: number, dx: number, dy: number, dz: number, tMin: number,
): number {
  switch (type) {
    case GEOM_PLANE: return rayPlane(s0, s1, ox, oy, oz, dx, dy, dz, tMin);
    case GEOM_SPHERE: return raySphere(s0, ox, oy, oz, dx, dy, dz, tMin);
    case GEOM_CAPSULE: return rayCapsule(s0, s1, ox, oy, oz, dx, dy, dz, tMin);
    case GEOM_ELLIPSOID: return rayEllipsoid(s0, s1, s2, ox, oy, oz, dx, dy, dz, tMin);
    case GEOM_CYLINDER: return rayCylinder(s0, s1, ox, oy, oz, dx, dy, dz, tMin);
    case GEOM_BOX: return rayBox(s0, s1, s2, ox, oy, oz, dx, dy, dz, tMin);
    default: return MISS;
  }
}

/**
 * Unit outward normal, in the primitive's frame, at surface point p; written
 * into out[0..2] so shading allocates nothing.
 */
export function localNormal(
  type: number, s0: number, s1: number, s2: number, px: number, py: number, pz: number, out: Float64Array,
): void {
  let nx = 0, ny = 0, nz = 1;
  switch (type) {
    case GEOM_SPHERE: nx = px; ny = py; nz = pz; break;
    case GEOM_ELLIPSOID: nx = px / (s0 * s0); ny = py / (s1 * s1); nz = pz / (s2 * s2); break;
    case GEOM_CAPSULE: {
      const zc = pz > s1 ? s1 : pz < -s1 ? -s1 : pz;
      nx = px; ny = py; nz = pz - zc;
      break;
    }
    case GEOM_CYLINDER: {
      // Whichever surface the point is relatively closer to is the face hit.
      const rho = Math.sqrt(px * px + py * py);
      if (Math.abs(pz) / s1 >= rho / s0) { nx = 0; ny = 0; nz = pz >= 0 ? 1 : -1; } else { nx = px; ny = py; nz = 0; }
      break;
    }
    case GEOM_BOX: {
      const ax = Math.abs(px) / s0, ay = Math.abs(py) / s1, az = Math.abs(pz) / s2;
      if (ax >= ay && ax >= az) { nx = px >= 0 ? 1 : -1; ny = 0; nz = 0; }
      else if (ay >= az) { nx = 0; ny = py >= 0 ? 1 : -1; nz = 0; }
      else { nx = 0; ny = 0; nz = pz >= 0 ? 1 : -1; }
      break;
    }
    default: break; // plane: +z
  }
  const len = Math.sqrt(nx * nx + ny * ny + nz * nz);
  if (len > 0) { out[0] = nx / len; out[1] = ny / len; out[2] = nz / len; } else { out[0] = 0; out[1] = 0; out[2] = 1; }
}

/** Half-extents of the primitive's local axis-aligned bounding box. */
export function localHalfExtents(type: number, s0: number, s1: number, s2: number, out: Float64Array): void {
  switch (type) {
    case GEOM_SPHERE: out[0] = s0; out[1] = s0; out[2] = s0; break;
    case GEOM_CAPSULE: out[0] = s0; out[1] = s0; out[2] = s1 + s0; break;
    case GEOM_CYLINDER: out[0] = s0; out[1] = s0; out[2] = s1; break;
    default: out[0] = s0; out[1] = s1; out[2] = s2; break; // box, ellipsoid
  }
}

import { describe, expect, it } from 'vitest';
import {
  GEOM_BOX, GEOM_CAPSULE, GEOM_CYLINDER, GEOM_ELLIPSOID, GEOM_PLANE, GEOM_SPHERE,
  localNormal, rayBox, rayCapsule, rayCylinder, rayEllipsoid, rayPlane, rayPrimitive, raySphere,
} from '../../envs/render/intersect.js';

const n = new Float64Array(3);

describe('analytic intersections (local frame)', () => {
  it('sphere: entry distance and inside hit', () => {
    // From (0,0,-5) along +z with |d| = 2: surface at z = -1, so t = 4/2.
    expect(raySphere(1, 0, 0, -5, 0, 0, 2, 0)).toBeCloseTo(2, 12);
    // Offset ray grazing past: x = 1.01 > r misses.
    expect(raySphere(1, 1.01, 0, -5, 0, 0, 1, 0)).toBe(Infinity);
    // From the centre, the exit point at t = r.
    expect(raySphere(0.5, 0, 0, 0, 1, 0, 0, 0)).toBeCloseTo(0.5, 12);
    // Sphere behind the ray.
    expect(raySphere(1, 0, 0, 5, 0, 0, 1, 0)).toBe(Infinity);
  });

  it('ellipsoid: hits each semi-axis at its own length', () => {
    expect(rayEllipsoid(1, 2, 3, -10, 0, 0, 1, 0, 0, 0)).toBeCloseTo(9, 12);
    expect(rayEllipsoid(1, 2, 3, 0, -10, 0, 0, 1, 0, 0)).toBeCloseTo(8, 12);
    expect(rayEllipsoid(1, 2, 3, 0, 0, 10, 0, 0, -1, 0)).toBeCloseTo(7, 12);
    // Point on the surface (x = 0.6, z = 3*0.8) from above: y = 0.
    const t = rayEllipsoid(1, 2, 3, 0.6, 0, 10, 0, 0, -1, 0);
    expect(10 - t).toBeCloseTo(2.4, 12);
    localNormal(GEOM_ELLIPSOID, 1, 2, 3, 0.6, 0, 2.4, n);
    // Gradient (x/a^2, y/b^2, z/c^2) = (0.6, 0, 0.2667), normalised.
    const len = Math.hypot(0.6, 2.4 / 9);
    expect(n[0]).toBeCloseTo(0.6 / len, 12);
    expect(n[2]).toBeCloseTo(2.4 / 9 / len, 12);
  });

  it('plane: one-sided and bounded by its size', () => {
    expect(rayPlane(0, 0, 3, 4, 2, 0, 0, -1, 0)).toBeCloseTo(2, 12);
    expect(rayPlane(0, 0, 0, 0, -2, 0, 0, 1, 0)).toBe(Infinity); // from below
    expect(rayPlane(1, 1, 0, 0, 1, 1, 0, -1, 0)).toBeCloseTo(1, 12); // lands at x = 1, on the edge
    expect(rayPlane(1, 1, 0, 0, 1, 1.5, 0, -1, 0)).toBe(Infinity); // lands at x = 1.5, outside
  });

  it('box: slab entry, axis-parallel rays, and face normals', () => {
    expect(rayBox(1, 2, 3, -5, 0, 0, 1, 0, 0, 0)).toBeCloseTo(4, 12);
    expect(rayBox(1, 2, 3, 0, 0, 10, 0, 0, -1, 0)).toBeCloseTo(7, 12);
    expect(rayBox(1, 2, 3, 1.5, 0, 10, 0, 0, -1, 0)).toBe(Infinity);
    // Diagonal ray into the corner region: enters via x = -1 at t = 1 (y = 1 there, inside).
    expect(rayBox(1, 2, 3, -2, 0, 0, 1, 1, 0, 0)).toBeCloseTo(1, 12);
    localNormal(GEOM_BOX, 1, 2, 3, -1, 1, 0, n);
    expect(Array.from(n)).toEqual([-1, 0, 0]);
    localNormal(GEOM_BOX, 1, 2, 3, 0.2, 0.5, 3, n);
    expect(Array.from(n)).toEqual([0, 0, 1]);
  });

  it('capsule: side, hemispherical caps, and misses beyond the caps', () => {
    // r = 0.5, half-length 1. Side hit from -x at z = 0.5.
    expect(rayCapsule(0.5, 1, -5, 0, 0.5, 1, 0, 0, 0)).toBeCloseTo(4.5, 12);
    // Down the axis from above: top of the cap at z = 1.5.
    expect(rayCapsule(0.5, 1, 0, 0, 5, 0, 0, -1, 0)).toBeCloseTo(3.5, 12);
    // Horizontal ray at z = 1.3 through the cap: x = -sqrt(0.25 - 0.09) = -0.4.
    expect(rayCapsule(0.5, 1, -5, 0, 1.3, 1, 0, 0, 0)).toBeCloseTo(4.6, 12);
    expect(rayCapsule(0.5, 1, -5, 0, 1.51, 1, 0, 0, 0)).toBe(Infinity);
    localNormal(GEOM_CAPSULE, 0.5, 1, 0, -0.4, 0, 1.3, n);
    expect(n[0]).toBeCloseTo(-0.8, 12);
    expect(n[2]).toBeCloseTo(0.6, 12);
  });

  it('cylinder: flat caps, side, and no rounded caps', () => {
    expect(rayCylinder(0.5, 1, 0, 0, 5, 0, 0, -1, 0)).toBeCloseTo(4, 12);
    expect(rayCylinder(0.5, 1, 0.49, 0, 5, 0, 0, -1, 0)).toBeCloseTo(4, 12);
    expect(rayCylinder(0.5, 1, -5, 0, 0.99, 1, 0, 0, 0)).toBeCloseTo(4.5, 12);
    // Where a capsule's cap would be, a cylinder has nothing.
    expect(rayCylinder(0.5, 1, -5, 0, 1.3, 1, 0, 0, 0)).toBe(Infinity);
    localNormal(GEOM_CYLINDER, 0.5, 1, 0, 0.1, 0.1, 1, n);
    expect(Array.from(n)).toEqual([0, 0, 1]);
    localNormal(GEOM_CYLINDER, 0.5, 1, 0, 0, -0.5, 0.2, n);
    expect(Array.from(n)).toEqual([0, -1, 0]);
  });

  it('rayPrimitive dispatches on the mjtGeom code and respects tMin', () => {
    expect(rayPrimitive(GEOM_SPHERE, 1, 0, 0, 0, 0, -5, 0, 0, 1, 0)).toBeCloseTo(4, 12);
    expect(rayPrimitive(GEOM_SPHERE, 1, 0, 0, 0, 0, -5, 0, 0, 1, 4.5)).toBeCloseTo(6, 12); // exit point
    expect(rayPrimitive(GEOM_BOX, 1, 1, 1, 0, 0, -5, 0, 0, 1, 0)).toBeCloseTo(4, 12);
    expect(rayPrimitive(GEOM_PLANE, 0, 0, 0, 0, 0, 5, 0, 0, -1, 0)).toBeCloseTo(5, 12);
    expect(rayPrimitive(7 /* mesh */, 1, 1, 1, 0, 0, -5, 0, 0, 1, 0)).toBe(Infinity);
  });

  it('finite differences: the sphere hit point lies on the surface and the normal is its gradient', () => {
    const o = [0.3, -0.2, -4], d = [0.05, 0.02, 1];
    const t = raySphere(1, o[0]!, o[1]!, o[2]!, d[0]!, d[1]!, d[2]!, 0);
    const p = [o[0]! + t * d[0]!, o[1]! + t * d[1]!, o[2]! + t * d[2]!];
    expect(Math.hypot(p[0]!, p[1]!, p[2]!)).toBeCloseTo(1, 12);
    // Moving the origin slightly along d shortens t by the same amount.
    const h = 1e-6;
    const t2 = raySphere(1, o[0]! + h * d[0]!, o[1]! + h * d[1]!, o[2]! + h * d[2]!, d[0]!, d[1]!, d[2]!, 0);
    expect((t - t2) / h).toBeCloseTo(1, 5);
  });
});

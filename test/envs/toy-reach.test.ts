import { describe, expect, it } from 'vitest';
import { ToyReach } from '../../envs/toy/toy-reach.js';

const pixel = (img: Uint8Array, size: number, x: number, y: number): number[] => Array.from(img.subarray(3 * (y * size + x), 3 * (y * size + x) + 3));

describe('toy-reach', () => {
  it('draws the dot and the target where the state says', () => {
    const env = new ToyReach({ imageSize: 40 });
    env.reset({ seed: 1 });
    env.restoreSnapshot({ ...env.getSnapshot(), dot: [-0.5, 0.5], target: [0.5, -0.5] });
    const img = env.observe();
    // x = -0.5 -> column 10, y = 0.5 -> row 10 (y up); target at (30, 30).
    expect(pixel(img, 40, 10, 10)).toEqual([40, 220, 60]);
    expect(pixel(img, 40, 30, 30)).toEqual([220, 50, 40]);
    // the floor: 11x11 tiles (here pixels 18-21 of both axes are tile 5), one blue-grey shade per tile, varied across tiles
    const floor = pixel(img, 40, 20, 20);
    expect(floor[2]).toBeGreaterThan(floor[0]!);
    for (const [x, y] of [[18, 18], [21, 21], [18, 21]] as const) expect(pixel(img, 40, x, y)).toEqual(floor);
    const empty = new ToyReach({ imageSize: 40 });
    empty.reset({ seed: 1 });
    empty.restoreSnapshot({ ...empty.getSnapshot(), dot: [5, 5], target: [5, 5] }); // both off-screen
    const shades = new Set<string>();
    const centre = (t: number) => Math.floor(((t + 0.5) * 40) / 11);
    for (let ty = 0; ty < 11; ty++) for (let tx = 0; tx < 11; tx++) shades.add(pixel(empty.observe(), 40, centre(tx), centre(ty)).join());
    expect(shades.size).toBeGreaterThan(50); // a flat floor would give 1
  });

  it('moves the dot 0.05 per unit action, clips actions to [-1, 1], rewards closeness', () => {
    const env = new ToyReach({ imageSize: 8 });
    env.reset({ seed: 1 });
    env.restoreSnapshot({ ...env.getSnapshot(), dot: [0, 0], target: [0.5, 0] });
    const far = env.step(Float32Array.of(0, 0)).reward;
    env.step(Float32Array.of(3, 0));
    expect(env.state.dot[0]).toBeCloseTo(0.05, 12);
    for (let i = 0; i < 8; i++) env.step(Float32Array.of(1, 0));
    const near = env.step(Float32Array.of(0, 0)).reward;
    expect(env.state.dot[0]).toBeCloseTo(0.45, 12);
    expect(near).toBe(1);
    // distance 0.5, bounds [0, 0.15], margin 1, gaussian: 0.1 ** (0.35 ** 2)
    expect(far).toBeCloseTo(0.1 ** (0.35 ** 2), 12);
    expect(() => env.step(Float32Array.of(0))).toThrow(/length 1, expected 2/);
  });

  it('is deterministic under a seed', () => {
    const a = new ToyReach({ imageSize: 8 });
    const b = new ToyReach({ imageSize: 8 });
    expect(a.reset({ seed: 4 }).observation).toEqual(b.reset({ seed: 4 }).observation);
    expect(a.state).toEqual(b.state);
    expect(a.reset({ seed: 5 }).observation).not.toEqual(b.observe());
  });
});

/**
 * The Node test server's deterministic frames: every byte a hash of (episode
 * seed, step, index), so frames differ everywhere, cover all 256 byte values
 * (CR, LF, ^C, XON/XOFF included: a cooked terminal would mangle them), and a
 * test can recompute them independently.
 */
export function patternFrame(seed: number, step: number, size: number, out = new Uint8Array(size * size * 3)): Uint8Array {
  const h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(step + 1, 0xc2b2ae35)) >>> 0;
  for (let i = 0; i < out.length; i++) {
    let x = (h ^ Math.imul(i, 0x27d4eb2d)) >>> 0;
    x ^= x >>> 15;
    x = Math.imul(x, 0x2c1b3c6d);
    x ^= x >>> 12;
    out[i] = x & 255;
  }
  return out;
}

/** The reward the test server pays: it depends on the action, so a test sees the action crossed intact. */
export function patternReward(action: ArrayLike<number>, step: number): number {
  return (action[0] ?? 0) + 2 * (action[1] ?? 0) + step / 1000;
}

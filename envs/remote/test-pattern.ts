/*
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

/**
 * A frame that looks rendered (what a control-suite camera returns): a sky
 * gradient, a checkered floor, and a box whose place and colour depend on
 * (seed, step). Mostly flat colour, so it compresses well, unlike patternFrame.
 */
export function renderedFrame(seed: number, step: number, size: number, out = new Uint8Array(size * size * 3)): Uint8Array {
  const h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(step + 1, 0xc2b2ae35)) >>> 0;
  const horizon = Math.floor(size * 0.6);
  const box = Math.max(1, Math.floor(size / 6));
  const bx = (h % Math.max(1, size - box)) | 0;
  const by = Math.max(0, horizon - box);
  const colour = [64 + (h & 127), 64 + ((h >>> 8) & 127), 64 + ((h >>> 16) & 127)];
  const tile = Math.max(1, Math.floor(size / 12));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const o = (y * size + x) * 3;
      if (x >= bx && x < bx + box && y >= by && y < horizon) {
        out[o] = colour[0]!;
        out[o + 1] = colour[1]!;
        out[o + 2] = colour[2]!;
      } else if (y < horizon) {
        out[o] = 40 + ((y * 60) / size) | 0;
        out[o + 1] = 70 + ((y * 60) / size) | 0;
        out[o + 2] = 140;
      } else {
        const dark = ((Math.floor(x / tile) + Math.floor(y / tile)) & 1) === 1;
        out[o] = dark ? 50 : 90;
        out[o + 1] = dark ? 60 : 100;
        out[o + 2] = dark ? 55 : 95;
      }
    }
  }
  return out;
}

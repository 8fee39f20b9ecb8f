import { expect } from 'vitest';
import { ReplayBuffer, type ReplayOptions } from '../../replay/buffer.js';

/** What the test expects the buffer to hold, kept independently of it. */
export interface ModelFrame {
  g: number;
  ep: number;
  step?: { action: Float32Array; reward: number; terminated: boolean; truncated: boolean };
}

/** Frame g: every byte distinct per (g, position), so a wrong frame or pixel is caught. */
export function frameFor(g: number, bytes: number): Uint8Array {
  const f = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) f[i] = (g * 37 + i * 11 + 5) & 255;
  return f;
}

/**
 * Feeds `buffer` episodes of the given step counts (episode lengths in
 * steps); the last step of each is terminated when `terminal(e)` else
 * truncated. Frames are numbered from firstGlobal (the frames written
 * before). Returns the model of every frame written.
 */
export function fill(
  buffer: ReplayBuffer,
  lengths: readonly number[],
  terminal: (episode: number) => boolean = (e) => e % 2 === 0,
  openLast = false,
  firstGlobal = 0,
): ModelFrame[] {
  const [h, w] = buffer.frameShape;
  const bytes = h * w * 3;
  const model: ModelFrame[] = [];
  let g = firstGlobal;
  lengths.forEach((len, e) => {
    const ep = g;
    buffer.addReset(frameFor(g, bytes));
    model.push({ g, ep });
    g++;
    for (let t = 0; t < len; t++) {
      const last = t === len - 1 && !(openLast && e === lengths.length - 1);
      const action = Float32Array.from({ length: buffer.actionDim }, (_, j) => g + j / 10);
      const step = { action, reward: g * 0.5, terminated: last && terminal(e), truncated: last && !terminal(e) };
      buffer.addStep({ ...step, nextFrame: frameFor(g, bytes) });
      model[model.length - 1]!.step = step;
      model.push({ g, ep });
      g++;
    }
  });
  return model;
}

export function liveLow(model: readonly ModelFrame[], capacity: number): number {
  return Math.max(0, model.length - capacity);
}

/** Valid transitions by the definition: has a step, and its oldest stack frame is still live. */
export function validTransitions(model: readonly ModelFrame[], capacity: number, k: number): ModelFrame[] {
  const low = liveLow(model, capacity);
  return model.filter((m) => m.g >= low && m.step !== undefined && Math.max(m.ep, m.g - k + 1) >= low);
}

/** The k-stack of frame g by explicit index arithmetic: H x W x 3k, channel 3f + c from frame max(ep, g - k + 1 + f). */
export function expectedStack(model: readonly ModelFrame[], g: number, k: number, h: number, w: number): Uint8Array {
  const ep = model[g]!.ep;
  const frames = Array.from({ length: k }, (_, f) => frameFor(Math.max(ep, g - k + 1 + f), h * w * 3));
  const out = new Uint8Array(h * w * 3 * k);
  for (let p = 0; p < h * w; p++) {
    for (let f = 0; f < k; f++) for (let c = 0; c < 3; c++) out[p * 3 * k + 3 * f + c] = frames[f]![p * 3 + c]!;
  }
  return out;
}

export function makeBuffer(options: Partial<ReplayOptions> & { capacity: number }): ReplayBuffer {
  return new ReplayBuffer({ frameShape: [4, 4, 3], actionDim: 2, frameStack: 3, ...options });
}

/** toEqual on typed arrays is slow in vitest; compare natively and only diff on a mismatch. */
export function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (Buffer.compare(actual, expected) !== 0) expect(actual).toEqual(expected);
}

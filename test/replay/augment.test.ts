import { describe, expect, it } from 'vitest';
import { CenterCrop, Cutout, RandomCrop, RandomShift } from '../../replay/augment.js';
import { centerCrop, cropStackInto, randomCropInto } from '../../replay/image-kernels.js';
import { ReplayBuffer } from '../../replay/buffer.js';
import { ReplayError } from '../../replay/errors.js';
import { Rng } from '../../src/core/rng.js';
import { expectBytes } from './helpers.js';

/** Pixel (y, x) of frame id: channel 0 = y, 1 = x, 2 = id, so a crop reveals its offset and source frame. */
function coordFrame(h: number, w: number, id: number): Uint8Array {
  const f = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 3;
      f[p] = y;
      f[p + 1] = x;
      f[p + 2] = id;
    }
  }
  return f;
}

/** The explicit slice: out[(y * crop + x) * 3k + 3f + c] = frame_f[((y0 + y) * w + x0 + x) * 3 + c]. */
function explicitCrop(frames: Uint8Array[], w: number, crop: number, x0: number, y0: number): Uint8Array {
  const k = frames.length;
  const out = new Uint8Array(crop * crop * 3 * k);
  for (let y = 0; y < crop; y++) {
    for (let x = 0; x < crop; x++) {
      for (let f = 0; f < k; f++) {
        for (let c = 0; c < 3; c++) out[(y * crop + x) * 3 * k + 3 * f + c] = frames[f]![((y0 + y) * w + x0 + x) * 3 + c]!;
      }
    }
  }
  return out;
}

function noise(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

describe('crop kernels', () => {
  it('randomCropInto and cropStackInto equal the explicit slice for k = 1..4 and any offset', () => {
    const h = 12;
    const w = 11;
    // crop 8 with k = 3 takes the 32-bit word path; crop 5 the byte paths.
    for (const [k, crop] of [[1, 5], [2, 5], [3, 5], [3, 8], [4, 5], [4, 8]] as const) {
      const frames = Array.from({ length: k }, (_, f) => noise(h * w * 3, 10 * k + f));
      for (const [x0, y0] of [[0, 0], [w - crop, h - crop], [2, 1]] as const) {
        const expected = explicitCrop(frames, w, crop, x0, y0);
        const perFrame = new Uint8Array(expected.length + 7);
        frames.forEach((src, f) => randomCropInto(src, 0, w, crop, x0, y0, perFrame, 7, f, 3 * k));
        expectBytes(perFrame.subarray(7), expected);
        // Frames at offsets inside larger blocks, as the buffer stores them.
        const blocks = frames.map((src, f) => {
          const b = new Uint8Array(src.length + 13 * (f + 1));
          b.set(src, 13 * (f + 1));
          return b;
        });
        // At an aligned and at a misaligned output offset (the word path must fall back).
        for (const at of [0, 4, 3]) {
          const stacked = new Uint8Array(expected.length + 8).fill(77);
          cropStackInto(blocks, blocks.map((_, f) => 13 * (f + 1)), w, crop, x0, y0, stacked, at);
          expectBytes(stacked.subarray(at, at + expected.length), expected);
          expect(stacked[at - 1] ?? 77).toBe(77);
          expect(stacked[at + expected.length]).toBe(77);
        }
      }
    }
  });

  it('centerCrop takes the floor((size - crop) / 2) window of a stacked image', () => {
    // 5x5, 2 channels, crop 3: offset 1; value = 10 * y + x in channel 0, 100 + ... in channel 1.
    const image = new Uint8Array(5 * 5 * 2);
    for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) {
      image[(y * 5 + x) * 2] = 10 * y + x;
      image[(y * 5 + x) * 2 + 1] = 100 + 10 * y + x;
    }
    expect(Array.from(centerCrop(image, 5, 2, 3))).toEqual([
      11, 111, 12, 112, 13, 113, 21, 121, 22, 122, 23, 123, 31, 131, 32, 132, 33, 133,
    ]);
    // 100 -> 84 with a 9-channel stack: offset 8.
    const big = noise(100 * 100 * 9, 1);
    const out = new Uint8Array(84 * 84 * 9);
    expect(centerCrop(big, 100, 9, 84, out)).toBe(out);
    const frames = [0, 1, 2].map((f) => {
      const one = new Uint8Array(100 * 100 * 3);
      for (let p = 0; p < 100 * 100; p++) for (let c = 0; c < 3; c++) one[p * 3 + c] = big[p * 9 + 3 * f + c]!;
      return one;
    });
    expectBytes(out, explicitCrop(frames, 100, 84, 8, 8));
    expect(() => centerCrop(big, 100, 3, 84)).toThrow(/expected 100x100x3/);
    expect(() => centerCrop(big, 100, 9, 101)).toThrow(ReplayError);
    expect(() => centerCrop(big, 100, 9, 84, new Uint8Array(5))).toThrow(/out has 5 bytes/);
  });

  it('CenterCrop as an augmentation matches centerCrop', () => {
    const frame = noise(10 * 10 * 3, 2);
    const a = new CenterCrop(10, 10, 6);
    const out = new Uint8Array(6 * 6 * 3);
    a.writeFrame(frame, 0, out, 0, 0, 3, a.draw());
    expectBytes(out, centerCrop(frame, 10, 3, 6));
  });
});

describe('random crop through the replay buffer', () => {
  const k = 3;
  const buffer = new ReplayBuffer({ capacity: 40, frameShape: [100, 100, 3], actionDim: 1, frameStack: k });
  let id = 0;
  for (let e = 0; e < 3; e++) {
    buffer.addReset(coordFrame(100, 100, id++));
    for (let t = 0; t < 10; t++) {
      buffer.addStep({ action: new Float32Array(1), reward: 0, terminated: false, truncated: t === 9, nextFrame: coordFrame(100, 100, id++) });
    }
  }
  const crop = 84;
  const batch = buffer.sample(300, new Rng(42), { cropSize: crop, positive: true });
  const imageBytes = crop * crop * 3 * k;

  /** Offset and frame ids of one stacked crop, after checking it is one consistent explicit slice. */
  function decode(images: Uint8Array, b: number): { x: number; y: number; ids: number[] } {
    const img = images.subarray(b * imageBytes, (b + 1) * imageBytes);
    const y = img[0]!;
    const x = img[1]!;
    const ids = Array.from({ length: k }, (_, f) => img[3 * f + 2]!);
    expectBytes(img, explicitCrop(ids.map((i) => coordFrame(100, 100, i)), 100, crop, x, y));
    return { x, y, ids };
  }

  it('crops every frame of a stack with the same offset, each view with its own', () => {
    let differ = 0;
    for (let b = 0; b < batch.batchSize; b++) {
      const anchor = decode(batch.obs, b);
      const positive = decode(batch.obsPositive!, b);
      const next = decode(batch.nextObs, b);
      expect(positive.ids).toEqual(anchor.ids);
      expect(next.ids[k - 1]).toBe(anchor.ids[k - 1]! + 1);
      if (anchor.x !== positive.x || anchor.y !== positive.y) differ++;
    }
    // Independent offsets coincide with probability 1/289.
    expect(differ).toBeGreaterThan(batch.batchSize * 0.95);
  });

  it('reaches every offset 0..16 on both axes for 100 -> 84', () => {
    for (const view of ['obs', 'obsPositive', 'nextObs'] as const) {
      const xs = new Set<number>();
      const ys = new Set<number>();
      for (let b = 0; b < batch.batchSize; b++) {
        const img = batch[view]!;
        ys.add(img[b * imageBytes]!);
        xs.add(img[b * imageBytes + 1]!);
      }
      const all = Array.from({ length: 17 }, (_, i) => i);
      expect([...xs].sort((p, q) => p - q)).toEqual(all);
      expect([...ys].sort((p, q) => p - q)).toEqual(all);
    }
  });

  it('RandomCrop draws x and y in 0..(side - crop) inclusive', () => {
    const a = new RandomCrop(20, 12, 10);
    const rng = new Rng(3);
    const xs = new Set<number>();
    const ys = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const { x, y } = a.draw(rng);
      xs.add(x);
      ys.add(y);
    }
    expect([...xs].sort((p, q) => p - q)).toEqual([0, 1, 2]);
    expect([...ys].sort((p, q) => p - q)).toEqual(Array.from({ length: 11 }, (_, i) => i));
    expect(() => new RandomCrop(20, 12, 13)).toThrow(/must not exceed/);
  });
});

describe('other augmentations', () => {
  it('RandomShift pads by replicating the border: pixel (y, x) comes from clamp(y + dy - pad, x + dx - pad)', () => {
    const n = 6;
    const pad = 2;
    const frame = coordFrame(n, n, 7);
    const a = new RandomShift(n, pad);
    for (const p of [{ x: 0, y: 4 }, { x: 2, y: 2 }, { x: 3, y: 1 }]) {
      const out = new Uint8Array(n * n * 6);
      a.writeFrame(frame, 0, out, 0, 1, 6, p);
      for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
        const o = (y * n + x) * 6 + 3;
        expect([out[o], out[o + 1], out[o + 2]]).toEqual([
          Math.min(n - 1, Math.max(0, y + p.y - pad)),
          Math.min(n - 1, Math.max(0, x + p.x - pad)),
          7,
        ]);
        expect(out[o - 3]).toBe(0); // frame 0's channels untouched
      }
    }
    // offset (pad, pad) is the identity
    const id = new Uint8Array(n * n * 3);
    a.writeFrame(frame, 0, id, 0, 0, 3, { x: pad, y: pad });
    expectBytes(id, frame);
  });

  it('Cutout zeroes the same rectangle in every frame and leaves the rest of the crop as is', () => {
    const inner = new RandomCrop(10, 10, 8);
    const cut = new Cutout(inner, 2, 3);
    const rng = new Rng(9);
    const frames = [noise(300, 1).map((v) => v | 1), noise(300, 2).map((v) => v | 1)];
    for (let i = 0; i < 20; i++) {
      const p = cut.draw(rng);
      expect(p.h).toBeGreaterThanOrEqual(2);
      expect(p.w).toBeLessThanOrEqual(3);
      const out = new Uint8Array(8 * 8 * 6);
      frames.forEach((src, f) => cut.writeFrame(src, 0, out, 0, f, 6, p));
      const plain = explicitCrop(frames, 10, 8, p.inner.x, p.inner.y);
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
        const inside = y >= p.y && y < p.y + p.h && x >= p.x && x < p.x + p.w;
        for (let c = 0; c < 6; c++) expect(out[(y * 8 + x) * 6 + c]).toBe(inside ? 0 : plain[(y * 8 + x) * 6 + c]);
      }
    }
  });

  it('plugs into sample() in place of the default crop', () => {
    const buffer = new ReplayBuffer({ capacity: 8, frameShape: [6, 6, 3], actionDim: 1, frameStack: 1 });
    buffer.addReset(coordFrame(6, 6, 1));
    buffer.addStep({ action: new Float32Array(1), reward: 0, terminated: true, truncated: false, nextFrame: coordFrame(6, 6, 2) });
    const batch = buffer.sample(4, new Rng(1), { cropSize: 6, positive: false, augmentation: new RandomShift(6, 1) });
    expect(batch.size).toBe(6);
    expect(() => buffer.sample(4, new Rng(1), { cropSize: 4, positive: false, augmentation: new RandomShift(6, 1) })).toThrow(/outputs 6px/);
  });
});

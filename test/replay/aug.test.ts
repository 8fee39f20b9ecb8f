import { describe, expect, it } from 'vitest';
import { CenterCrop, ColorJitter, Cutout, RandomCrop, RandomShift, type Augmentation, type JitterParams, type CropOffset } from '../../replay/augment.js';
import { buildAugmentation, cutoutSides, parseAugSpec, SHIFT_PAD } from '../../replay/aug-spec.js';
import { ReplayBuffer } from '../../replay/buffer.js';
import { ReplayError } from '../../replay/errors.js';
import { Rng } from '../../src/core/rng.js';
import { expectBytes } from './helpers.js';

/** Pixel (y, x) of frame `id`: channel 0 = y, 1 = x, 2 = id, so a view reveals its offset and source frame. */
function coordFrame(n: number, id: number): Uint8Array {
  const f = new Uint8Array(n * n * 3);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) f.set([y, x, id], (y * n + x) * 3);
  return f;
}

function noiseFrame(n: number, seed: number, lo = 0): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n * n * 3 }, () => lo + rng.int(256 - lo));
}

/** A buffer of `episodes` episodes of 6 steps each whose frames come from `frame(id)`. */
function filledBuffer(n: number, k: number, frame: (id: number) => Uint8Array, episodes = 3): ReplayBuffer {
  const buffer = new ReplayBuffer({ capacity: 64, frameShape: [n, n, 3], actionDim: 1, frameStack: k });
  let id = 0;
  for (let e = 0; e < episodes; e++) {
    buffer.addReset(frame(id++));
    for (let t = 0; t < 6; t++) buffer.addStep({ action: new Float32Array(1), reward: 0, terminated: false, truncated: t === 5, nextFrame: frame(id++) });
  }
  return buffer;
}

/** Writes one stack (frames given whole, n x n x 3 each) through an augmentation, the way the replay does. */
function applyStack<P>(aug: Augmentation<P>, frames: Uint8Array[], p: P): Uint8Array {
  const k = frames.length;
  const out = new Uint8Array(aug.outputSize * aug.outputSize * 3 * k);
  frames.forEach((f, i) => aug.writeFrame(f, 0, out, 0, i, 3 * k, p));
  aug.finishStack?.(out, 0, 3 * k, p);
  return out;
}

describe('--aug parsing', () => {
  it('takes a +-joined list with exactly one of crop or shift, any order, no repeats', () => {
    expect(parseAugSpec('crop')).toEqual({ geometric: 'crop', jitter: false, cutout: false });
    expect(parseAugSpec('shift+jitter')).toEqual({ geometric: 'shift', jitter: true, cutout: false });
    expect(parseAugSpec('cutout+crop+jitter')).toEqual({ geometric: 'crop', jitter: true, cutout: true });
    expect(() => parseAugSpec('foo')).toThrow(/unknown augmentation part\(s\) "foo".*valid parts: crop, shift, jitter, cutout/);
    expect(() => parseAugSpec('crop+shift')).toThrow(/both crop and shift/);
    expect(() => parseAugSpec('jitter')).toThrow(/neither crop nor shift/);
    expect(() => parseAugSpec('crop+jitter+jitter')).toThrow(/jitter repeated/);
    expect(() => buildAugmentation('shift', 100, 84)).toThrow(/--crop-size \(84\) must equal --image-size \(100\)/);
    expect(buildAugmentation('shift+jitter+cutout', 12, 12).name).toBe('random-shift+jitter+cutout');
    expect(cutoutSides(84)).toEqual([10, 30]);
  });
});

describe('--aug none', () => {
  it("parses alone and refuses to be joined with any part, saying why and what to use", () => {
    expect(parseAugSpec('none')).toEqual({ geometric: 'center', jitter: false, cutout: false });
    for (const text of ['none+crop', 'none+jitter', 'cutout+none', 'none+none']) {
      expect(() => parseAugSpec(text)).toThrow(ReplayError);
      expect(() => parseAugSpec(text)).toThrow(/'none' \(the centre crop, no augmentation\) stands alone.*use --aug none, or crop\+jitter/);
    }
    expect(buildAugmentation('none', 20, 16)).toBeInstanceOf(CenterCrop);
  });

  it('samples every view as the centre crop of the stored stack, drawing nothing but the transition indices', () => {
    const n = 12;
    const crop = 8;
    const k = 3;
    const seed = 21;
    const batchSize = 16;
    // coordFrame: channel 2 holds the frame id, which is its global index here (one frame per add, no wrap)
    const buffer = filledBuffer(n, k, (id) => coordFrame(n, id));
    const rng = new Rng(seed);
    const batch = buffer.sample(batchSize, rng, { cropSize: crop, augmentation: buildAugmentation('none', n, crop), positive: true });
    const channels = 3 * k;
    const imageBytes = crop * crop * channels;
    const offset = (n - crop) / 2;
    const centre = (full: Uint8Array): Uint8Array => {
      const out = new Uint8Array(imageBytes);
      for (let y = 0; y < crop; y++) for (let x = 0; x < crop; x++) {
        for (let c = 0; c < channels; c++) out[(y * crop + x) * channels + c] = full[((y + offset) * n + (x + offset)) * channels + c]!;
      }
      return out;
    };
    // the index draws alone, replayed: 3 episodes of 7 frames, the last frame of each has no next_obs
    const replay = new Rng(seed);
    for (let b = 0; b < batchSize; b++) {
      let g: number;
      do g = replay.int(21);
      while (g % 7 === 6);
      const view = (a: Uint8Array) => a.subarray(b * imageBytes, (b + 1) * imageBytes);
      expect(view(batch.obs)[channels - 1]).toBe(g);
      expectBytes(view(batch.obs), centre(buffer.stackAt(g)));
      expectBytes(view(batch.obsPositive!), centre(buffer.stackAt(g)));
      expectBytes(view(batch.nextObs), centre(buffer.stackAt(g + 1)));
    }
    expect(rng.getState()).toEqual(replay.getState());
    // crop at the same seed consumes two more ints per view, so its stream ends elsewhere
    const cropRng = new Rng(seed);
    buffer.sample(batchSize, cropRng, { cropSize: crop, augmentation: buildAugmentation('crop', n, crop), positive: true });
    expect(cropRng.getState()).not.toEqual(rng.getState());
  });
});

describe('shift (DrQ) through the replay buffer', () => {
  const n = 12;
  const k = 3;
  const pad = SHIFT_PAD;
  const buffer = filledBuffer(n, k, (id) => coordFrame(n, id));
  const aug = buildAugmentation('shift', n, n);
  const M = 2;
  const K = 3;
  const B = 200;
  const batch = buffer.sample(B, new Rng(11), { cropSize: n, augmentation: aug, positive: true, obsViews: M, nextViews: K });
  const img = n * n * 3 * k;

  /**
   * The shift of stack `row` of `images`, read from the centre pixel of frame 0
   * (out(6, 6) = 6 + d - pad, never clamped for d in 0..2 pad), after checking
   * every pixel of every frame against the explicit index arithmetic
   * out[(y n + x) 3k + 3f + c] = frame_f[(clamp(y + dy - pad) n + clamp(x + dx - pad)) 3 + c].
   */
  function decode(images: Uint8Array, row: number): { dx: number; dy: number; ids: number[] } {
    const s = images.subarray(row * img, (row + 1) * img);
    const centre = (6 * n + 6) * 3 * k;
    const dy = s[centre]! - 6 + pad;
    const dx = s[centre + 1]! - 6 + pad;
    const ids = Array.from({ length: k }, (_, f) => s[3 * f + 2]!);
    const clamp = (v: number) => Math.min(n - 1, Math.max(0, v));
    const expected = new Uint8Array(img);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) for (let f = 0; f < k; f++) {
      const src = coordFrame(n, ids[f]!);
      for (let c = 0; c < 3; c++) expected[(y * n + x) * 3 * k + 3 * f + c] = src[(clamp(y + dy - pad) * n + clamp(x + dx - pad)) * 3 + c]!;
    }
    expectBytes(s, expected);
    return { dx, dy, ids };
  }

  it('every pixel of every frame is the edge-replicated shift with one offset per stack', () => {
    const offsets = new Set<number>();
    let anchorVsPositive = 0;
    let viewsDiffer = 0;
    for (let b = 0; b < B; b++) {
      const a = decode(batch.obs, b);
      const p = decode(batch.obsPositive!, b);
      expect(p.ids).toEqual(a.ids);
      if (a.dx !== p.dx || a.dy !== p.dy) anchorVsPositive++;
      for (let v = 1; v < M; v++) {
        const o = decode(batch.obs, v * B + b);
        expect(o.ids).toEqual(a.ids);
        if (o.dx !== a.dx || o.dy !== a.dy) viewsDiffer++;
      }
      for (let v = 0; v < K; v++) {
        const nx = decode(batch.nextObs, v * B + b);
        expect(nx.ids[k - 1]).toBe(a.ids[k - 1]! + 1);
      }
      offsets.add(a.dx).add(a.dy);
    }
    // offsets 0..2 pad, the extremes reach 4 pixels of replicated border
    expect([...offsets].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // independent draws coincide with probability 1/81
    expect(anchorVsPositive).toBeGreaterThan(B * 0.9);
    expect(viewsDiffer).toBeGreaterThan(B * 0.9);
    expect(batch.obs.length).toBe(M * B * img);
    expect(batch.nextObs.length).toBe(K * B * img);
    expect([batch.obsViews, batch.nextViews]).toEqual([M, K]);
  });

  it('replicates the edge at the pad: offset (0, 0) repeats row 0 and column 0 four times', () => {
    const shift = new RandomShift(n, pad);
    const out = applyStack(shift, [coordFrame(n, 5)], { x: 0, y: 0 });
    // pixel (y, x) shows source (max(0, y - 4), max(0, x - 4))
    for (const [y, x, sy, sx] of [[0, 0, 0, 0], [3, 3, 0, 0], [4, 4, 0, 0], [5, 2, 1, 0], [11, 11, 7, 7]] as const) {
      expect([...out.subarray((y * n + x) * 3, (y * n + x) * 3 + 3)]).toEqual([sy, sx, 5]);
    }
    const far = applyStack(shift, [coordFrame(n, 5)], { x: 8, y: 8 });
    expect([...far.subarray((11 * n + 11) * 3, (11 * n + 11) * 3 + 3)]).toEqual([11, 11, 5]);
    expect([...far.subarray((7 * n + 8) * 3, (7 * n + 8) * 3 + 3)]).toEqual([11, 11, 5]);
  });

  it('RandomShift.writeStack equals writeFrame per frame for k = 1..4 and every offset', () => {
    const shift = new RandomShift(7, 4);
    for (let kk = 1; kk <= 4; kk++) {
      const frames = Array.from({ length: kk }, (_, f) => noiseFrame(7, 30 + f));
      // frames inside larger blocks, as the buffer stores them
      const blocks = frames.map((f, i) => {
        const blk = new Uint8Array(f.length + 5 * (i + 1));
        blk.set(f, 5 * (i + 1));
        return blk;
      });
      for (let dy = 0; dy <= 8; dy++) for (let dx = 0; dx <= 8; dx++) {
        const perFrame = applyStack(shift, frames, { x: dx, y: dy });
        const stacked = new Uint8Array(perFrame.length + 2);
        shift.writeStack(blocks, blocks.map((_, i) => 5 * (i + 1)), stacked, 2, { x: dx, y: dy });
        expectBytes(stacked.subarray(2), perFrame);
      }
    }
  });

  it('is deterministic under a seed, and M = K = 1 draws exactly what plain sampling did', () => {
    const again = buffer.sample(B, new Rng(11), { cropSize: n, augmentation: aug, positive: true, obsViews: M, nextViews: K });
    expectBytes(again.obs, batch.obs);
    expectBytes(again.obsPositive!, batch.obsPositive!);
    expectBytes(again.nextObs, batch.nextObs);
    const other = buffer.sample(B, new Rng(12), { cropSize: n, augmentation: aug, positive: true, obsViews: M, nextViews: K });
    expect(Buffer.compare(Buffer.from(other.obs), Buffer.from(batch.obs))).not.toBe(0);
    // the crop default and an explicit 'crop' augmentation with 1/1 views give the same bytes
    const big = filledBuffer(20, k, (id) => noiseFrame(20, id));
    const plain = big.sample(16, new Rng(3), { cropSize: 16, positive: true });
    const viaSpec = big.sample(16, new Rng(3), { cropSize: 16, positive: true, augmentation: buildAugmentation('crop', 20, 16), obsViews: 1, nextViews: 1 });
    expectBytes(viaSpec.obs, plain.obs);
    expectBytes(viaSpec.obsPositive!, plain.obsPositive!);
    expectBytes(viaSpec.nextObs, plain.nextObs);
    expect(viaSpec.obsViews).toBeUndefined();
    expect(() => big.sample(16, new Rng(3), { cropSize: 16, positive: true, obsViews: 0 })).toThrow(ReplayError);
  });
});

/** The SVG 1.1 feColorMatrix hueRotate matrix, written out (row-major). */
function svgHue(t: number): number[] {
  const c = Math.cos(t);
  const s = Math.sin(t);
  return [
    0.213 + 0.787 * c - 0.213 * s, 0.715 - 0.715 * c - 0.715 * s, 0.072 - 0.072 * c + 0.928 * s,
    0.213 - 0.213 * c + 0.143 * s, 0.715 + 0.285 * c + 0.140 * s, 0.072 - 0.072 * c - 0.283 * s,
    0.213 - 0.213 * c - 0.787 * s, 0.715 - 0.715 * c + 0.715 * s, 0.072 + 0.928 * c + 0.072 * s,
  ];
}

/** Nearest integer, ties to even (v - floor(v) is exact for 0 <= v < 256). */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

/** The jitter's colour formulas, pixel by pixel, on an already geometric-augmented stack (n x n x 3k). */
function explicitJitter(stack: Uint8Array, b: number, c: number, s: number, theta: number): Uint8Array {
  const luma = (r: number, g: number, bl: number) => 0.299 * r + 0.587 * g + 0.114 * bl;
  const pixels = stack.length / 3;
  let sum = 0;
  for (let p = 0; p < pixels; p++) sum += luma(stack[3 * p]!, stack[3 * p + 1]!, stack[3 * p + 2]!);
  const mu = b * (sum / pixels); // the stack's mean luma after brightness
  const H = svgHue(theta);
  const out = new Uint8Array(stack.length);
  for (let p = 0; p < pixels; p++) {
    const x = [stack[3 * p]!, stack[3 * p + 1]!, stack[3 * p + 2]!];
    const x1 = x.map((v) => b * v);
    const x2 = x1.map((v) => c * v + (1 - c) * mu);
    const y2 = luma(x2[0]!, x2[1]!, x2[2]!);
    const x3 = x2.map((v) => s * v + (1 - s) * y2);
    for (let ch = 0; ch < 3; ch++) {
      const v = H[3 * ch]! * x3[0]! + H[3 * ch + 1]! * x3[1]! + H[3 * ch + 2]! * x3[2]!;
      out[3 * p + ch] = v <= 0 ? 0 : v >= 255 ? 255 : roundHalfEven(v);
    }
  }
  return out;
}

describe('colour jitter', () => {
  const n = 8;
  const k = 3;
  const frames = [0, 1, 2].map((f) => noiseFrame(10, 100 + f));

  it('draws b, c, s, hue per stack after the inner parameters, in RAD ranges', () => {
    const jitter = new ColorJitter(new RandomCrop(10, 10, n));
    const p = jitter.draw(new Rng(5));
    const r = new Rng(5);
    const y = r.int(3);
    const x = r.int(3);
    const b = 0.6 + 0.8 * r.uniform();
    const c = 0.6 + 0.8 * r.uniform();
    const s = 0.6 + 0.8 * r.uniform();
    const h = -0.5 + r.uniform();
    expect(p).toEqual({ inner: { x, y }, b, c, s, theta: 2 * Math.PI * h });
    const rng = new Rng(9);
    for (let i = 0; i < 300; i++) {
      const q = jitter.draw(rng);
      for (const v of [q.b, q.c, q.s]) expect(v >= 0.6 && v < 1.4).toBe(true);
      expect(Math.abs(q.theta) <= Math.PI).toBe(true);
    }
    expect(svgHue(0).map((v) => Math.round(v * 1e12) / 1e12)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  });

  it('equals the colour formulas written out per pixel, with the same parameters and mean on every frame', () => {
    const crop = new RandomCrop(10, 10, n);
    const jitter = new ColorJitter(crop);
    const rng = new Rng(21);
    for (let trial = 0; trial < 6; trial++) {
      const p: JitterParams<CropOffset> = jitter.draw(rng);
      const got = applyStack(jitter, frames, p);
      const geometric = applyStack(crop, frames, p.inner);
      expectBytes(got, explicitJitter(geometric, p.b, p.c, p.s, p.theta));
      // the stack fast path (writeStack + finishStack) gives the same bytes
      const fast = new Uint8Array(got.length);
      jitter.writeStack!(frames, [0, 0, 0], fast, 0, p);
      jitter.finishStack(fast, 0, 3 * k, p);
      expectBytes(fast, got);
    }
    // identical frames stay identical after jitter: one colour map per stack
    const same = [frames[0]!, frames[0]!, frames[0]!];
    const out = applyStack(jitter, same, jitter.draw(new Rng(4)));
    for (let px = 0; px < n * n; px++) {
      const f0 = out.subarray(px * 9, px * 9 + 3);
      expect([...out.subarray(px * 9 + 3, px * 9 + 6)]).toEqual([...f0]);
      expect([...out.subarray(px * 9 + 6, px * 9 + 9)]).toEqual([...f0]);
    }
    // b = c = s = 1, theta = 0 is the identity
    const geo = applyStack(crop, frames, { x: 1, y: 2 });
    expectBytes(applyStack(jitter, frames, { inner: { x: 1, y: 2 }, b: 1, c: 1, s: 1, theta: 0 }), geo);
  });

  it('through the replay: shift+jitter gives anchor and positive different draws, deterministic under a seed', () => {
    // every frame of the buffer the same image: a stack's three frames must come out equal
    const same = noiseFrame(12, 77);
    const buffer = filledBuffer(12, k, () => same);
    const aug = buildAugmentation('shift+jitter', 12, 12);
    const opts = { cropSize: 12, augmentation: aug, positive: true, obsViews: 2, nextViews: 2 } as const;
    const batch = buffer.sample(40, new Rng(8), opts);
    const img = 12 * 12 * 9;
    let differ = 0;
    for (let b = 0; b < 40; b++) {
      for (const [arr, rows] of [[batch.obs, 2], [batch.obsPositive!, 1], [batch.nextObs, 2]] as const) {
        for (let v = 0; v < rows; v++) {
          const s = arr.subarray((v * 40 + b) * img, (v * 40 + b + 1) * img);
          for (let px = 0; px < 144; px++) {
            expect([...s.subarray(px * 9 + 3, px * 9 + 6)]).toEqual([...s.subarray(px * 9, px * 9 + 3)]);
            expect([...s.subarray(px * 9 + 6, px * 9 + 9)]).toEqual([...s.subarray(px * 9, px * 9 + 3)]);
          }
        }
      }
      const a = batch.obs.subarray(b * img, (b + 1) * img);
      const p = batch.obsPositive!.subarray(b * img, (b + 1) * img);
      if (Buffer.compare(Buffer.from(a), Buffer.from(p)) !== 0) differ++;
    }
    expect(differ).toBe(40);
    const again = buffer.sample(40, new Rng(8), opts);
    expectBytes(again.obs, batch.obs);
    expectBytes(again.obsPositive!, batch.obsPositive!);
    expectBytes(again.nextObs, batch.nextObs);
  });
});

describe('cutout', () => {
  it('zeroes one rectangle, identical on every frame of a stack, through the replay', () => {
    const n = 16;
    const k = 3;
    // values >= 1, so a zero can only come from the cutout
    const buffer = filledBuffer(20, k, (id) => noiseFrame(20, id, 1));
    const aug = buildAugmentation('crop+cutout', 20, n);
    const [lo, hi] = cutoutSides(n);
    const batch = buffer.sample(60, new Rng(2), { cropSize: n, augmentation: aug, positive: true, obsViews: 2 });
    const img = n * n * 3 * k;
    for (const [arr, rows] of [[batch.obs, 120], [batch.obsPositive!, 60], [batch.nextObs, 60]] as const) {
      for (let r = 0; r < rows; r++) {
        const s = arr.subarray(r * img, (r + 1) * img);
        const zero: Array<[number, number]> = [];
        for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
          const px = s.subarray((y * n + x) * 3 * k, (y * n + x + 1) * 3 * k);
          const zeros = [...px].filter((v) => v === 0).length;
          // all 3k channels zero (every frame) or none
          expect(zeros === 0 || zeros === 3 * k).toBe(true);
          if (zeros) zero.push([y, x]);
        }
        const ys = zero.map(([y]) => y);
        const xs = zero.map(([, x]) => x);
        const h = Math.max(...ys) - Math.min(...ys) + 1;
        const w = Math.max(...xs) - Math.min(...xs) + 1;
        expect(zero.length).toBe(h * w); // a full rectangle
        expect(h >= lo && h <= hi && w >= lo && w <= hi).toBe(true);
      }
    }
  });

  it('after jitter, the rectangle is zero in every frame and the rest is the jittered view', () => {
    const n = 10;
    const frames = [0, 1, 2].map((f) => noiseFrame(n, 200 + f));
    const jitter = new ColorJitter(new RandomShift(n, 4));
    const cut = new Cutout(jitter, 2, 5);
    const rng = new Rng(6);
    for (let t = 0; t < 5; t++) {
      const p = cut.draw(rng);
      const got = applyStack(cut, frames, p);
      const jittered = applyStack(jitter, frames, p.inner);
      for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
        const inside = y >= p.y && y < p.y + p.h && x >= p.x && x < p.x + p.w;
        const o = (y * n + x) * 9;
        expect([...got.subarray(o, o + 9)]).toEqual(inside ? new Array(9).fill(0) : [...jittered.subarray(o, o + 9)]);
      }
    }
  });
});

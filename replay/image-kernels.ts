// The byte loops behind the augmentations (replay/augment.ts) and the
// evaluation-time centre crop: crop, shift, cutout and colour jitter on HWC
// uint8 images in Uint8Arrays, writing straight into the batch.
//
// Layout everywhere: HWC uint8. A stacked image has C = 3 * k channels,
// frame-major and oldest first (channel c = 3 * f + rgb), as in
// replay/types.ts. A kernel writes one frame of a stack (its 3 channels,
// strided by the stack's channel count) or the whole stack (each output
// pixel's 3k channels in one sequential run, which is faster than k strided
// passes). Offsets are not range-checked in the per-stack kernels (hot path):
// the augmentations draw them in range.
import { ReplayError } from './errors.js';

/** Throws a ReplayError unless height, width and crop are positive integers with the crop inside the image. */
export function checkCrop(what: string, height: number, width: number, crop: number): void {
  for (const [name, v] of [['height', height], ['width', width], ['crop', crop]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new ReplayError(`${what}: ${name} must be a positive integer, got ${v}`);
  }
  if (crop > height || crop > width) {
    throw new ReplayError(`${what}: crop ${crop} must not exceed the image (${height}x${width})`);
  }
}

/**
 * The crop kernel: copies the crop x crop window at (y0, x0) of one RGB frame
 * (height x srcWidth x 3 at src[srcOffset]) into channels 3*frame.. of a
 * stacked output image with outChannels channels at out[outOffset].
 */
export function randomCropInto(
  src: Uint8Array,
  srcOffset: number,
  srcWidth: number,
  crop: number,
  x0: number,
  y0: number,
  out: Uint8Array,
  outOffset: number,
  frame: number,
  outChannels: number,
): void {
  const rowBytes = crop * 3;
  if (outChannels === 3) {
    // A single frame: output rows are contiguous runs of the source row.
    for (let y = 0; y < crop; y++) {
      const s = srcOffset + ((y0 + y) * srcWidth + x0) * 3;
      out.set(src.subarray(s, s + rowBytes), outOffset + y * rowBytes);
    }
    return;
  }
  const outRow = crop * outChannels;
  for (let y = 0; y < crop; y++) {
    let s = srcOffset + ((y0 + y) * srcWidth + x0) * 3;
    let o = outOffset + y * outRow + 3 * frame;
    const end = s + rowBytes;
    while (s < end) {
      out[o] = src[s]!;
      out[o + 1] = src[s + 1]!;
      out[o + 2] = src[s + 2]!;
      s += 3;
      o += outChannels;
    }
  }
}

/**
 * The crop kernel for a whole stack: the same crop x crop window at (y0, x0)
 * of each frame srcs[f] (at offsets[f]) into one stacked output image with
 * 3k channels, pixel by pixel; k = 3 (the CURL default) is unrolled.
 */
export function cropStackInto(
  srcs: readonly Uint8Array[],
  offsets: readonly number[],
  srcWidth: number,
  crop: number,
  x0: number,
  y0: number,
  out: Uint8Array,
  outOffset: number,
): void {
  const k = srcs.length;
  const rowBytes = crop * 3;
  if (k === 3 && crop % 4 === 0 && LITTLE_ENDIAN && (out.byteOffset + outOffset) % 4 === 0) {
    cropStack3Words(srcs, offsets, srcWidth, crop, x0, y0, words32(out), (out.byteOffset + outOffset) >> 2);
    return;
  }
  if (k === 3) {
    const s0 = srcs[0]!;
    const s1 = srcs[1]!;
    const s2 = srcs[2]!;
    const d1 = offsets[1]! - offsets[0]!;
    const d2 = offsets[2]! - offsets[0]!;
    let o = outOffset;
    for (let y = 0; y < crop; y++) {
      let s = offsets[0]! + ((y0 + y) * srcWidth + x0) * 3;
      const end = s + rowBytes;
      while (s < end) {
        out[o] = s0[s]!;
        out[o + 1] = s0[s + 1]!;
        out[o + 2] = s0[s + 2]!;
        out[o + 3] = s1[s + d1]!;
        out[o + 4] = s1[s + d1 + 1]!;
        out[o + 5] = s1[s + d1 + 2]!;
        out[o + 6] = s2[s + d2]!;
        out[o + 7] = s2[s + d2 + 1]!;
        out[o + 8] = s2[s + d2 + 2]!;
        s += 3;
        o += 9;
      }
    }
    return;
  }
  for (let f = 0; f < k; f++) randomCropInto(srcs[f]!, offsets[f]!, srcWidth, crop, x0, y0, out, outOffset, f, 3 * k);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
let lastOut: Uint8Array | undefined;
let lastWords: Uint32Array = new Uint32Array(0) as Uint32Array;

/** A Uint32 view over out's whole ArrayBuffer, cached because a batch writes hundreds of stacks to one array. */
function words32(out: Uint8Array): Uint32Array {
  if (out !== lastOut || lastWords.buffer !== out.buffer) {
    lastOut = out;
    lastWords = new Uint32Array(out.buffer, 0, out.buffer.byteLength >> 2);
  }
  return lastWords;
}

/**
 * k = 3, crop divisible by 4: four output pixels (4 x 9 = 36 bytes) are
 * assembled into nine little-endian 32-bit words, which cuts the number of
 * stores by four (about 30% faster than byte stores here). Output rows
 * (crop * 9 bytes) then stay 4-byte aligned.
 */
function cropStack3Words(
  srcs: readonly Uint8Array[],
  offsets: readonly number[],
  srcWidth: number,
  crop: number,
  x0: number,
  y0: number,
  out: Uint32Array,
  outWord: number,
): void {
  const a = srcs[0]!;
  const b = srcs[1]!;
  const c = srcs[2]!;
  const oa = offsets[0]!;
  const ob = offsets[1]!;
  const oc = offsets[2]!;
  let o = outWord;
  for (let y = 0; y < crop; y++) {
    const row = ((y0 + y) * srcWidth + x0) * 3;
    let i = oa + row;
    let j = ob + row;
    let m = oc + row;
    const end = i + crop * 3;
    // Byte order per pixel: a0 a1 a2 b0 b1 b2 c0 c1 c2.
    while (i < end) {
      out[o] = a[i]! | (a[i + 1]! << 8) | (a[i + 2]! << 16) | (b[j]! << 24);
      out[o + 1] = b[j + 1]! | (b[j + 2]! << 8) | (c[m]! << 16) | (c[m + 1]! << 24);
      out[o + 2] = c[m + 2]! | (a[i + 3]! << 8) | (a[i + 4]! << 16) | (a[i + 5]! << 24);
      out[o + 3] = b[j + 3]! | (b[j + 4]! << 8) | (b[j + 5]! << 16) | (c[m + 3]! << 24);
      out[o + 4] = c[m + 4]! | (c[m + 5]! << 8) | (a[i + 6]! << 16) | (a[i + 7]! << 24);
      out[o + 5] = a[i + 8]! | (b[j + 6]! << 8) | (b[j + 7]! << 16) | (b[j + 8]! << 24);
      out[o + 6] = c[m + 6]! | (c[m + 7]! << 8) | (c[m + 8]! << 16) | (a[i + 9]! << 24);
      out[o + 7] = a[i + 10]! | (a[i + 11]! << 8) | (b[j + 9]! << 16) | (b[j + 10]! << 24);
      out[o + 8] = b[j + 11]! | (c[m + 9]! << 8) | (c[m + 10]! << 16) | (c[m + 11]! << 24);
      i += 12;
      j += 12;
      m += 12;
      o += 9;
    }
  }
}

/**
 * Center crop of one stacked HWC image (size x size x channels), for acting
 * and evaluation. The offset is floor((size - crop) / 2) on both axes.
 */
export function centerCrop(image: Uint8Array, size: number, channels: number, crop: number, out?: Uint8Array): Uint8Array {
  checkCrop('centerCrop', size, size, crop);
  if (!Number.isInteger(channels) || channels <= 0) throw new ReplayError(`centerCrop: channels must be a positive integer, got ${channels}`);
  if (image.length !== size * size * channels) {
    throw new ReplayError(`centerCrop: image has ${image.length} bytes, expected ${size}x${size}x${channels} = ${size * size * channels}`);
  }
  const target = out ?? new Uint8Array(crop * crop * channels);
  if (target.length !== crop * crop * channels) {
    throw new ReplayError(`centerCrop: out has ${target.length} bytes, expected ${crop}x${crop}x${channels} = ${crop * crop * channels}`);
  }
  const o = Math.floor((size - crop) / 2);
  const rowBytes = crop * channels;
  for (let y = 0; y < crop; y++) {
    const s = ((o + y) * size + o) * channels;
    target.set(image.subarray(s, s + rowBytes), y * rowBytes);
  }
  return target;
}

/**
 * The shift kernel for a whole stack: the size x size window at (x, y) of
 * each frame padded by `pad` pixels that replicate its border (the padding is
 * virtual: indices are clamped, nothing is allocated). `cols` is scratch of
 * `size` entries: the clamped source column of each output column, computed
 * once per stack.
 */
export function shiftStackInto(
  srcs: readonly Uint8Array[],
  offsets: readonly number[],
  size: number,
  pad: number,
  x0: number,
  y0: number,
  out: Uint8Array,
  outOffset: number,
  cols: Int32Array,
): void {
  const n = size;
  const last = n - 1;
  const k = srcs.length;
  for (let x = 0; x < n; x++) cols[x] = Math.min(last, Math.max(0, x + x0 - pad)) * 3;
  let o = outOffset;
  for (let y = 0; y < n; y++) {
    const row = Math.min(last, Math.max(0, y + y0 - pad)) * n * 3;
    for (let x = 0; x < n; x++) {
      const at = row + cols[x]!;
      for (let f = 0; f < k; f++) {
        const src = srcs[f]!;
        const s = offsets[f]! + at;
        out[o] = src[s]!;
        out[o + 1] = src[s + 1]!;
        out[o + 2] = src[s + 2]!;
        o += 3;
      }
    }
  }
}

/** The shift kernel for one frame of a stack (see shiftStackInto), into channels 3*frame.. of an image with outChannels channels. */
export function shiftFrameInto(
  src: Uint8Array,
  srcOffset: number,
  size: number,
  pad: number,
  x0: number,
  y0: number,
  out: Uint8Array,
  outOffset: number,
  frame: number,
  outChannels: number,
): void {
  const n = size;
  const last = n - 1;
  for (let y = 0; y < n; y++) {
    const sy = Math.min(last, Math.max(0, y + y0 - pad));
    let o = outOffset + y * n * outChannels + 3 * frame;
    for (let x = 0; x < n; x++) {
      const sx = Math.min(last, Math.max(0, x + x0 - pad));
      const s = srcOffset + (sy * n + sx) * 3;
      out[o] = src[s]!;
      out[o + 1] = src[s + 1]!;
      out[o + 2] = src[s + 2]!;
      o += outChannels;
    }
  }
}

/** An axis-aligned rectangle of an image: top-left (x, y), h rows of w pixels. */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly h: number;
  readonly w: number;
}

/** Zeroes the rectangle in channels 3*frame.. of a size x size image with outChannels channels. */
export function zeroRectOfFrame(out: Uint8Array, outOffset: number, size: number, outChannels: number, frame: number, r: Rect): void {
  for (let y = r.y; y < r.y + r.h; y++) {
    let o = outOffset + (y * size + r.x) * outChannels + 3 * frame;
    for (let x = 0; x < r.w; x++) {
      out[o] = 0;
      out[o + 1] = 0;
      out[o + 2] = 0;
      o += outChannels;
    }
  }
}

/** Zeroes the rectangle in every channel of a size x size image (a stack's channels are contiguous per pixel). */
export function zeroRectOfStack(out: Uint8Array, outOffset: number, size: number, outChannels: number, r: Rect): void {
  for (let y = r.y; y < r.y + r.h; y++) {
    const o = outOffset + (y * size + r.x) * outChannels;
    out.fill(0, o, o + r.w * outChannels);
  }
}

/** Rec. 601 luma weights (as torchvision's rgb_to_grayscale, to 3 digits). */
export const LUMA: readonly [number, number, number] = [0.299, 0.587, 0.114];

/**
 * The hue rotation matrix about the grey axis (SVG 1.1 feColorMatrix
 * type="hueRotate"; identity at theta = 0), row-major 3x3.
 */
export function hueMatrix(theta: number): number[] {
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  return [
    0.213 + c * 0.787 - s * 0.213, 0.715 - c * 0.715 - s * 0.715, 0.072 - c * 0.072 + s * 0.928,
    0.213 - c * 0.213 + s * 0.143, 0.715 + c * 0.285 + s * 0.140, 0.072 - c * 0.072 - s * 0.283,
    0.213 - c * 0.213 - s * 0.787, 0.715 - c * 0.715 + s * 0.715, 0.072 + c * 0.928 + s * 0.072,
  ];
}

/** The colour jitter's factors for one stack: brightness b, contrast c, saturation s, hue rotation theta (radians). */
export interface JitterFactors {
  readonly b: number;
  readonly c: number;
  readonly s: number;
  readonly theta: number;
}

/**
 * The colour jitter kernel (the formulas are ColorJitter's, replay/augment.ts):
 * maps every pixel of the finished stack of `end` bytes at out[outOffset] in
 * place, in float64, with one mean luma over the whole stack.
 */
export function jitterStackInPlace(out: Uint8Array, outOffset: number, end: number, p: JitterFactors): void {
  // a clamped view: a store rounds to the nearest integer (ties to even) and clamps to 0..255
  // (ECMAScript ToUint8Clamp) without branches, twice as fast as Math.round + clamps on noisy images
  const px = new Uint8ClampedArray(out.buffer, out.byteOffset + outOffset, end);
  const [wr, wg, wb] = LUMA;
  let sum = 0;
  for (let i = 0; i < end; i += 3) sum += wr * px[i]! + wg * px[i + 1]! + wb * px[i + 2]!;
  const mu = (p.b * sum) / (end / 3);
  const [h0, h1, h2, h3, h4, h5, h6, h7, h8] = hueMatrix(p.theta) as [number, number, number, number, number, number, number, number, number];
  const { b, c, s } = p;
  const offset = (1 - c) * mu;
  const s1 = 1 - s;
  for (let i = 0; i < end; i += 3) {
    // 1. brightness, 2. contrast: c (b x) + (1 - c) mu
    const r2 = c * (b * px[i]!) + offset;
    const g2 = c * (b * px[i + 1]!) + offset;
    const b2 = c * (b * px[i + 2]!) + offset;
    // 3. saturation: s x2 + (1 - s) Y(x2)
    const y2 = s1 * (wr * r2 + wg * g2 + wb * b2);
    const r3 = s * r2 + y2;
    const g3 = s * g2 + y2;
    const b3 = s * b2 + y2;
    // 4. hue; the store rounds and clamps
    px[i] = h0 * r3 + h1 * g3 + h2 * b3;
    px[i + 1] = h3 * r3 + h4 * g3 + h5 * b3;
    px[i + 2] = h6 * r3 + h7 * g3 + h8 * b3;
  }
}

// Image augmentations applied while a stack is assembled, straight from the
// stored frames into the batch (one pass, no intermediate copies): what each
// draws per stack and in what order they compose. The byte loops are in
// replay/image-kernels.ts, with the image layout.
//
// Temporal consistency (CURL, DrQ): an augmentation draws its random
// parameters once per stacked sample (`draw`), and every frame of that stack
// is written with the same parameters (`writeFrame`).
import type { Rng } from '../src/core/rng.js';
import { ReplayError } from './errors.js';
import {
  checkCrop,
  cropStackInto,
  jitterStackInPlace,
  randomCropInto,
  shiftFrameInto,
  shiftStackInto,
  zeroRectOfFrame,
  zeroRectOfStack,
  type JitterFactors,
  type Rect,
} from './image-kernels.js';

export interface Augmentation<P = unknown> {
  readonly name: string;
  /** Side of the square output images. */
  readonly outputSize: number;
  /** Random parameters for one stacked sample. */
  draw(rng: Rng): P;
  /**
   * Writes frame `frame` of a k-stack (a 3-channel HWC image of the source
   * shape at src[srcOffset..]) into channels 3*frame..3*frame+2 of the stacked
   * output image that starts at out[outOffset], whose channel count is
   * outChannels.
   */
  writeFrame(src: Uint8Array, srcOffset: number, out: Uint8Array, outOffset: number, frame: number, outChannels: number, params: P): void;
  /**
   * Optional fast path: writes a whole stack at once (frame f from
   * srcs[f] at offsets[f]), which lets a kernel fill each output pixel's
   * 3k channels in one sequential run. Must equal calling writeFrame per frame.
   */
  writeStack?(srcs: readonly Uint8Array[], offsets: readonly number[], out: Uint8Array, outOffset: number, params: P): void;
  /**
   * Optional pass over the finished stack (outputSize^2 x outChannels at
   * out[outOffset]), called once after every frame was written: for
   * augmentations that need the whole stack (colour jitter's contrast reads
   * the stack's mean luma). The replay calls it after writeStack/writeFrame.
   */
  finishStack?(out: Uint8Array, outOffset: number, outChannels: number, params: P): void;
}

export interface CropOffset {
  readonly x: number;
  readonly y: number;
}

/** An outputSize window of each frame at an offset drawn per stack; the crops differ only in how they draw it. */
abstract class WindowCrop implements Augmentation<CropOffset> {
  abstract readonly name: string;
  constructor(
    readonly height: number,
    readonly width: number,
    readonly outputSize: number,
    what: string,
  ) {
    checkCrop(what, height, width, outputSize);
  }
  abstract draw(rng: Rng): CropOffset;
  writeFrame(src: Uint8Array, srcOffset: number, out: Uint8Array, outOffset: number, frame: number, outChannels: number, p: CropOffset): void {
    randomCropInto(src, srcOffset, this.width, this.outputSize, p.x, p.y, out, outOffset, frame, outChannels);
  }
  writeStack(srcs: readonly Uint8Array[], offsets: readonly number[], out: Uint8Array, outOffset: number, p: CropOffset): void {
    cropStackInto(srcs, offsets, this.width, this.outputSize, p.x, p.y, out, outOffset);
  }
}

/** CURL's random crop: offsets uniform over 0..(side - crop) inclusive on each axis. */
export class RandomCrop extends WindowCrop {
  readonly name = 'random-crop';
  constructor(height: number, width: number, outputSize: number) {
    super(height, width, outputSize, 'RandomCrop');
  }
  draw(rng: Rng): CropOffset {
    const y = rng.int(this.height - this.outputSize + 1);
    const x = rng.int(this.width - this.outputSize + 1);
    return { x, y };
  }
}

/** The deterministic counterpart of RandomCrop (evaluation-time view). */
export class CenterCrop extends WindowCrop {
  readonly name = 'center-crop';
  private readonly offset: CropOffset;
  constructor(height: number, width: number, outputSize: number) {
    super(height, width, outputSize, 'CenterCrop');
    this.offset = { x: Math.floor((width - outputSize) / 2), y: Math.floor((height - outputSize) / 2) };
  }
  draw(): CropOffset {
    return this.offset;
  }
}

/**
 * DrQ's random shift: pad by `pad` pixels replicating the border, then take
 * a random window of the source size; offsets uniform over 0..2*pad.
 */
export class RandomShift implements Augmentation<CropOffset> {
  readonly name = 'random-shift';
  readonly outputSize: number;
  /** Scratch for shiftStackInto: 3 x the clamped source column of each output column. */
  private readonly cols: Int32Array;
  constructor(
    readonly size: number,
    readonly pad: number,
  ) {
    checkCrop('RandomShift', size, size, size);
    if (!Number.isInteger(pad) || pad < 0) throw new ReplayError(`RandomShift: pad must be a non-negative integer, got ${pad}`);
    this.outputSize = size;
    this.cols = new Int32Array(size);
  }
  draw(rng: Rng): CropOffset {
    const y = rng.int(2 * this.pad + 1);
    const x = rng.int(2 * this.pad + 1);
    return { x, y };
  }
  writeStack(srcs: readonly Uint8Array[], offsets: readonly number[], out: Uint8Array, outOffset: number, p: CropOffset): void {
    shiftStackInto(srcs, offsets, this.size, this.pad, p.x, p.y, out, outOffset, this.cols);
  }
  writeFrame(src: Uint8Array, srcOffset: number, out: Uint8Array, outOffset: number, frame: number, outChannels: number, p: CropOffset): void {
    shiftFrameInto(src, srcOffset, this.size, this.pad, p.x, p.y, out, outOffset, frame, outChannels);
  }
}

export interface CutoutParams<P> extends Rect {
  readonly inner: P;
}

/**
 * Cutout after another augmentation: zeroes one rectangle of side
 * minSide..maxSide (inclusive) at a uniform position, the same rectangle in
 * every frame of the stack. When the inner augmentation has a stack pass
 * (colour jitter), the rectangle is zeroed after it, so cut pixels stay 0 and
 * do not enter the jitter's statistics.
 */
export class Cutout<P> implements Augmentation<CutoutParams<P>> {
  readonly name: string;
  readonly outputSize: number;
  readonly writeStack?: (srcs: readonly Uint8Array[], offsets: readonly number[], out: Uint8Array, outOffset: number, p: CutoutParams<P>) => void;
  readonly finishStack?: (out: Uint8Array, outOffset: number, outChannels: number, p: CutoutParams<P>) => void;
  constructor(
    readonly inner: Augmentation<P>,
    readonly minSide: number,
    readonly maxSide: number,
  ) {
    this.outputSize = inner.outputSize;
    if (!Number.isInteger(minSide) || !Number.isInteger(maxSide) || minSide < 0 || maxSide < minSide || maxSide > this.outputSize) {
      throw new ReplayError(`Cutout: need integers 0 <= minSide <= maxSide <= ${this.outputSize}, got ${minSide}..${maxSide}`);
    }
    this.name = `${inner.name}+cutout`;
    const innerStack = inner.writeStack?.bind(inner);
    const innerFinish = inner.finishStack?.bind(inner);
    if (innerStack) {
      this.writeStack = (srcs, offsets, out, outOffset, p) => {
        innerStack(srcs, offsets, out, outOffset, p.inner);
        if (!innerFinish) zeroRectOfStack(out, outOffset, this.outputSize, 3 * srcs.length, p);
      };
    }
    if (innerFinish) {
      this.finishStack = (out, outOffset, outChannels, p) => {
        innerFinish(out, outOffset, outChannels, p.inner);
        zeroRectOfStack(out, outOffset, this.outputSize, outChannels, p);
      };
    }
  }
  draw(rng: Rng): CutoutParams<P> {
    const inner = this.inner.draw(rng);
    const h = rng.intBetween(this.minSide, this.maxSide);
    const w = rng.intBetween(this.minSide, this.maxSide);
    const y = rng.int(this.outputSize - h + 1);
    const x = rng.int(this.outputSize - w + 1);
    return { inner, x, y, h, w };
  }
  writeFrame(src: Uint8Array, srcOffset: number, out: Uint8Array, outOffset: number, frame: number, outChannels: number, p: CutoutParams<P>): void {
    this.inner.writeFrame(src, srcOffset, out, outOffset, frame, outChannels, p.inner);
    if (this.inner.finishStack) return; // zeroed in finishStack, after the inner stack pass
    zeroRectOfFrame(out, outOffset, this.outputSize, outChannels, frame, p);
  }
}

/**
 * Ranges of the colour jitter's factors: brightness, contrast and saturation
 * factors are uniform in [1 - v, 1 + v], the hue shift uniform in [-hue, hue]
 * of a full turn. Defaults are RAD's (Laskin et al. 2020: 0.4, 0.4, 0.4, 0.5).
 */
export interface JitterRanges {
  readonly brightness: number;
  readonly contrast: number;
  readonly saturation: number;
  readonly hue: number;
}
export const RAD_JITTER: JitterRanges = { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.5 };

export interface JitterParams<P> extends JitterFactors {
  readonly inner: P;
}

/**
 * Colour jitter after another augmentation (RAD's colour jitter, a fixed-order
 * subset). Per stack it draws, in this order, b ~ U[1-B, 1+B], c ~ U[1-C, 1+C],
 * s ~ U[1-S, 1+S], h ~ U[-H, H] (theta = 2 pi h), and maps every pixel of
 * every frame of the stack, in float64, with no clamping between steps:
 *
 *   1. brightness  x1 = b x
 *   2. contrast    x2 = c x1 + (1 - c) mu,  mu = b * mean over all pixels of
 *                  all frames of the stack of Y(x), Y = 0.299 r + 0.587 g + 0.114 b
 *                  (the stack's mean luma after step 1)
 *   3. saturation  x3 = s x2 + (1 - s) Y(x2)
 *   4. hue         x4 = R(theta) x3, R = hueMatrix (SVG hueRotate)
 *   out = min(255, max(0, round(x4)))   (round to nearest, ties to even: ToUint8Clamp)
 *
 * The same b, c, s, theta and mu apply to every frame: one affine colour map
 * per stack. Torchvision shuffles the order and takes mu per image; we keep one
 * order and one mean so the map is identical across the stack's frames.
 */
export class ColorJitter<P> implements Augmentation<JitterParams<P>> {
  readonly name: string;
  readonly outputSize: number;
  readonly writeStack?: (srcs: readonly Uint8Array[], offsets: readonly number[], out: Uint8Array, outOffset: number, p: JitterParams<P>) => void;
  constructor(
    readonly inner: Augmentation<P>,
    readonly ranges: JitterRanges = RAD_JITTER,
  ) {
    for (const [k, v] of Object.entries(ranges)) {
      if (!(v >= 0) || (k !== 'hue' && v > 1) || (k === 'hue' && v > 0.5)) {
        throw new ReplayError(`ColorJitter: ${k} range must be in [0, ${k === 'hue' ? 0.5 : 1}], got ${v}`);
      }
    }
    if (inner.finishStack) throw new ReplayError(`ColorJitter: the inner augmentation ${inner.name} already has a stack pass; put jitter right after the crop or shift`);
    this.outputSize = inner.outputSize;
    this.name = `${inner.name}+jitter`;
    const innerStack = inner.writeStack?.bind(inner);
    if (innerStack) this.writeStack = (srcs, offsets, out, outOffset, p) => innerStack(srcs, offsets, out, outOffset, p.inner);
  }
  draw(rng: Rng): JitterParams<P> {
    const inner = this.inner.draw(rng);
    const r = this.ranges;
    const b = 1 - r.brightness + 2 * r.brightness * rng.uniform();
    const c = 1 - r.contrast + 2 * r.contrast * rng.uniform();
    const s = 1 - r.saturation + 2 * r.saturation * rng.uniform();
    const h = -r.hue + 2 * r.hue * rng.uniform();
    return { inner, b, c, s, theta: 2 * Math.PI * h };
  }
  writeFrame(src: Uint8Array, srcOffset: number, out: Uint8Array, outOffset: number, frame: number, outChannels: number, p: JitterParams<P>): void {
    this.inner.writeFrame(src, srcOffset, out, outOffset, frame, outChannels, p.inner); // colours in finishStack
  }
  finishStack(out: Uint8Array, outOffset: number, outChannels: number, p: JitterParams<P>): void {
    jitterStackInPlace(out, outOffset, this.outputSize * this.outputSize * outChannels, p);
  }
}

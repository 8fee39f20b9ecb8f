import type { Rng } from '../src/core/rng.js';
import type { Batch } from './types.js';
import { RandomCrop, type Augmentation } from './augment.js';
import { ReplayError } from './errors.js';
import { FrameStore, DEFAULT_BLOCK_BYTES } from './frame-store.js';
import { readReplayFile, writeReplayFile, type ReplayContents } from './persist.js';

export interface ReplayOptions {
  /** Frame slots in the ring. Each step uses one; each episode uses one more for its first frame. */
  capacity: number;
  /** H, W, 3 */
  frameShape: readonly [number, number, number];
  actionDim: number;
  frameStack: number;
  /** Largest frame block in bytes (default 1 GiB); tests lower it to exercise several blocks. */
  maxBlockBytes?: number;
}

export interface SampleOptions {
  cropSize: number;
  /** Also produce an independently cropped positive view of obs (CURL's key). */
  positive: boolean;
  /** Replaces the default RandomCrop(H, W, cropSize); its outputSize must equal cropSize. */
  augmentation?: Augmentation;
  /** M >= 1 augmented views of obs (DrQ's M; default 1), view-major in batch.obs. */
  obsViews?: number;
  /** K >= 1 augmented views of next_obs (DrQ's K; default 1), view-major in batch.nextObs. */
  nextViews?: number;
  /**
   * A batch returned by an earlier call with the same batch size, crop size
   * and `positive`, whose arrays are overwritten instead of allocating new
   * ones (saves ~5 ms of zero-filling at 128). Only once its data are no
   * longer needed (e.g. after tf.tensor copied them).
   */
  into?: Batch;
}

export interface StepRecord {
  action: Float32Array;
  reward: number;
  terminated: boolean;
  truncated: boolean;
  nextFrame: Uint8Array;
}

/** flags bits of a frame slot */
export const HAS_STEP = 1;
export const TERMINATED = 2;
export const TRUNCATED = 4;

/**
 * A ring of single frames, each stored once, with the step taken from each
 * frame. Stacks are rebuilt at sample time.
 *
 * Frames carry a global index g (0, 1, 2, ... in the order written; slot
 * g % capacity). The transition at g goes from frame g (with action[g],
 * reward[g], flags[g]) to frame g + 1, which addStep always writes next, so a
 * transition never crosses an episode boundary. The k-stack of frame g is the
 * frames max(epStart[g], g - k + 1 + f) for f = 0..k-1: positions before the
 * episode's first frame repeat that frame, as FrameStack does at reset.
 *
 * Live frames are the last `capacity` written, globals [L, written). A
 * transition is sampleable when it has a step and its oldest stack frame
 * max(epStart[g], g - k + 1) is live; its next frame and next stack are
 * newer, so they are live too.
 */
export class ReplayBuffer {
  readonly capacity: number;
  readonly frameShape: readonly [number, number, number];
  readonly actionDim: number;
  readonly frameStack: number;
  private readonly frameBytes: number;
  private readonly frames: FrameStore;
  /** Global index of the first frame of each slot's episode (float64: exact to 2^53). */
  private readonly epStart: Float64Array;
  private readonly action: Float32Array;
  private readonly reward: Float32Array;
  private readonly flags: Uint8Array;
  private written = 0;
  /** Live slots with HAS_STEP; size subtracts the few whose stack reaches past the ring's tail. */
  private stepsInWindow = 0;
  /** An episode is under way: addStep is allowed. */
  private episodeOpen = false;
  private readonly crops = new Map<number, RandomCrop>();
  /** Scratch for writeStack: where each frame of the current stack lives (reused; sampling allocates no per-sample arrays). */
  private readonly stackSrcs: Uint8Array[];
  private readonly stackOffsets: number[];

  constructor(options: ReplayOptions) {
    const { capacity, frameShape, actionDim, frameStack } = options;
    if (!Number.isSafeInteger(capacity) || capacity < 2) throw new ReplayError(`ReplayBuffer: capacity must be an integer >= 2, got ${capacity}`);
    if (frameShape.length !== 3 || frameShape.some((d) => !Number.isInteger(d) || d <= 0) || frameShape[2] !== 3) {
      throw new ReplayError(`ReplayBuffer: frameShape must be [H, W, 3] with positive integers, got [${frameShape.join(', ')}]`);
    }
    if (!Number.isInteger(actionDim) || actionDim <= 0) throw new ReplayError(`ReplayBuffer: actionDim must be a positive integer, got ${actionDim}`);
    if (!Number.isInteger(frameStack) || frameStack <= 0) throw new ReplayError(`ReplayBuffer: frameStack must be a positive integer, got ${frameStack}`);
    this.capacity = capacity;
    this.frameShape = [frameShape[0], frameShape[1], frameShape[2]];
    this.actionDim = actionDim;
    this.frameStack = frameStack;
    this.frameBytes = frameShape[0] * frameShape[1] * 3;
    this.frames = new FrameStore(capacity, this.frameBytes, options.maxBlockBytes ?? DEFAULT_BLOCK_BYTES);
    this.epStart = new Float64Array(capacity);
    this.action = new Float32Array(capacity * actionDim);
    this.reward = new Float32Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.stackSrcs = new Array<Uint8Array>(frameStack).fill(this.frames.blocks[0]!);
    this.stackOffsets = new Array<number>(frameStack).fill(0);
  }

  /** First observation of an episode (after env.reset). Abandons an unfinished episode's open frame. */
  addReset(frame: Uint8Array): void {
    this.checkFrame(frame, 'addReset');
    const g = this.written;
    this.writeFrame(g, g, frame);
    this.episodeOpen = true;
  }

  /** One env step from the previous frame: the action taken, reward, flags, and the frame that resulted. */
  addStep(step: StepRecord): void {
    if (!this.episodeOpen) {
      throw new ReplayError(
        this.written === 0
          ? 'addStep: no episode started; call addReset(frame) with the first observation first'
          : 'addStep: the previous step ended the episode (terminated or truncated); call addReset(frame) to start the next one',
      );
    }
    if (step.action.length !== this.actionDim) {
      throw new ReplayError(`addStep: action has ${step.action.length} values, expected actionDim = ${this.actionDim}`);
    }
    if (!Number.isFinite(step.reward)) throw new ReplayError(`addStep: reward must be finite, got ${step.reward}`);
    this.checkFrame(step.nextFrame, 'addStep');
    const prev = this.written - 1;
    const slot = prev % this.capacity;
    this.action.set(step.action, slot * this.actionDim);
    this.reward[slot] = step.reward;
    this.flags[slot] = HAS_STEP | (step.terminated ? TERMINATED : 0) | (step.truncated ? TRUNCATED : 0);
    this.stepsInWindow++;
    this.writeFrame(this.written, this.epStart[slot]!, step.nextFrame);
    this.episodeOpen = !(step.terminated || step.truncated);
  }

  /** Transitions that can be sampled now. */
  get size(): number {
    const low = this.oldestLive();
    let invalid = 0;
    const end = Math.min(low + this.frameStack - 1, this.written);
    for (let g = low; g < end; g++) {
      const slot = g % this.capacity;
      if (this.flags[slot]! & HAS_STEP && this.epStart[slot]! < low) invalid++;
    }
    return this.stepsInWindow - invalid;
  }

  bytesAllocated(): number {
    return this.frames.bytesAllocated() + this.epStart.byteLength + this.action.byteLength + this.reward.byteLength + this.flags.byteLength;
  }

  /**
   * A batch of transitions drawn uniformly (with replacement) from the valid
   * ones, each augmented with its own random crop for obs, the positive view
   * and nextObs. Random draws, per sample in order: the transition index
   * (rejection sampling over live frames), the anchor's parameters, the
   * positive's (if requested), nextObs's, then obs views 1..M-1 and next
   * views 1..K-1 (so M = K = 1 draws exactly what it always did).
   */
  sample(batchSize: number, rng: Rng, options: SampleOptions): Batch {
    if (!Number.isInteger(batchSize) || batchSize <= 0) throw new ReplayError(`sample: batchSize must be a positive integer, got ${batchSize}`);
    const size = this.size;
    if (size === 0) throw new ReplayError('sample: no transition can be sampled yet (size 0); add an episode start and at least one step');
    const aug = this.augmentationFor(options);
    const m = options.obsViews ?? 1;
    const kNext = options.nextViews ?? 1;
    for (const [name, v] of [['obsViews', m], ['nextViews', kNext]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ReplayError(`sample: ${name} must be a positive integer, got ${v}`);
    }
    const crop = aug.outputSize;
    const k = this.frameStack;
    const channels = 3 * k;
    const imageBytes = crop * crop * channels;
    const into = options.into;
    if (into) {
      const views = (into.obsViews ?? 1) === m && (into.nextViews ?? 1) === kNext;
      if (into.batchSize !== batchSize || into.size !== crop || into.channels !== channels || into.actionDim !== this.actionDim || (options.positive && !into.obsPositive) || !views) {
        throw new ReplayError(
          `sample: 'into' holds a batch of ${into.batchSize} x ${into.size}px x ${into.channels}ch (positive: ${into.obsPositive !== undefined}, views ${into.obsViews ?? 1}/${into.nextViews ?? 1}), ` +
            `expected ${batchSize} x ${crop}px x ${channels}ch (positive: ${options.positive}, views ${m}/${kNext})`,
        );
      }
    }
    const obs = into?.obs ?? new Uint8Array(m * batchSize * imageBytes);
    const obsPositive = options.positive ? (into?.obsPositive ?? new Uint8Array(batchSize * imageBytes)) : undefined;
    const nextObs = into?.nextObs ?? new Uint8Array(kNext * batchSize * imageBytes);
    const action = into?.action ?? new Float32Array(batchSize * this.actionDim);
    const reward = into?.reward ?? new Float32Array(batchSize);
    const notDone = into?.notDone ?? new Float32Array(batchSize);
    const indices = into?.indices ?? new Float64Array(batchSize);
    const low = this.oldestLive();
    const live = this.written - low;
    for (let b = 0; b < batchSize; b++) {
      let g: number;
      do g = low + rng.int(live);
      while (!this.isValid(g, low));
      const slot = g % this.capacity;
      action.set(this.action.subarray(slot * this.actionDim, (slot + 1) * this.actionDim), b * this.actionDim);
      reward[b] = this.reward[slot]!;
      notDone[b] = this.flags[slot]! & TERMINATED ? 0 : 1;
      indices[b] = g;
      const ep = this.epStart[slot]!;
      const out = b * imageBytes;
      this.writeStack(g, ep, aug, aug.draw(rng), obs, out, channels);
      if (obsPositive) this.writeStack(g, ep, aug, aug.draw(rng), obsPositive, out, channels);
      this.writeStack(g + 1, ep, aug, aug.draw(rng), nextObs, out, channels);
      for (let v = 1; v < m; v++) this.writeStack(g, ep, aug, aug.draw(rng), obs, (v * batchSize + b) * imageBytes, channels);
      for (let v = 1; v < kNext; v++) this.writeStack(g + 1, ep, aug, aug.draw(rng), nextObs, (v * batchSize + b) * imageBytes, channels);
    }
    return {
      batchSize,
      size: crop,
      channels,
      actionDim: this.actionDim,
      obs,
      ...(m > 1 ? { obsViews: m } : {}),
      ...(kNext > 1 ? { nextViews: kNext } : {}),
      ...(obsPositive ? { obsPositive } : {}),
      nextObs,
      action,
      reward,
      notDone,
      indices,
    };
  }

  /**
   * The uncropped k-stack (H x W x 3k, frame-major) of the frame with global
   * index g, for inspection and tests. Throws if g is not live.
   */
  stackAt(g: number): Uint8Array {
    const low = this.oldestLive();
    if (!Number.isInteger(g) || g < low || g >= this.written) throw new ReplayError(`stackAt: frame ${g} is not live (live: ${low}..${this.written - 1})`);
    const ep = this.epStart[g % this.capacity]!;
    const [h, w] = this.frameShape;
    if (Math.max(ep, g - this.frameStack + 1) < low) throw new ReplayError(`stackAt: the stack of frame ${g} reaches overwritten frames`);
    const out = new Uint8Array(h * w * 3 * this.frameStack);
    const full: Augmentation<null> = {
      name: 'identity',
      outputSize: w,
      draw: () => null,
      writeFrame: (src, srcOffset, o, oo, frame, ch) => {
        for (let p = 0; p < h * w; p++) {
          for (let c = 0; c < 3; c++) o[oo + p * ch + 3 * frame + c] = src[srcOffset + p * 3 + c]!;
        }
      },
    };
    this.writeStack(g, ep, full, null, out, 0, 3 * this.frameStack);
    return out;
  }

  /** Global indices written so far; frame g lives in slot g % capacity while g >= written - capacity. */
  get framesWritten(): number {
    return this.written;
  }

  save(path: string): Promise<void> {
    return writeReplayFile(path, this.contents());
  }

  async load(path: string): Promise<void> {
    const header = await readReplayFile(path, this.contents(), () => this.clear());
    this.written = header.written;
    this.stepsInWindow = header.stepsInWindow;
    this.episodeOpen = header.episodeOpen;
  }

  /** Empties the buffer (allocation is kept). */
  clear(): void {
    this.written = 0;
    this.stepsInWindow = 0;
    this.episodeOpen = false;
    this.flags.fill(0);
  }

  private contents(): ReplayContents {
    return {
      capacity: this.capacity,
      frameShape: this.frameShape,
      actionDim: this.actionDim,
      frameStack: this.frameStack,
      written: this.written,
      stepsInWindow: this.stepsInWindow,
      episodeOpen: this.episodeOpen,
      frames: this.frames,
      epStart: this.epStart,
      action: this.action,
      reward: this.reward,
      flags: this.flags,
    };
  }

  private augmentationFor(options: SampleOptions): Augmentation {
    const [h, w] = this.frameShape;
    if (options.augmentation) {
      if (options.augmentation.outputSize !== options.cropSize) {
        throw new ReplayError(`sample: augmentation ${options.augmentation.name} outputs ${options.augmentation.outputSize}px, but cropSize is ${options.cropSize}`);
      }
      return options.augmentation;
    }
    let crop = this.crops.get(options.cropSize);
    if (!crop) {
      if (!Number.isInteger(options.cropSize) || options.cropSize <= 0 || options.cropSize > h || options.cropSize > w) {
        throw new ReplayError(`sample: cropSize must be an integer in 1..${Math.min(h, w)} (frames are ${h}x${w}), got ${options.cropSize}`);
      }
      crop = new RandomCrop(h, w, options.cropSize);
      this.crops.set(options.cropSize, crop);
    }
    return crop;
  }

  private oldestLive(): number {
    return Math.max(0, this.written - this.capacity);
  }

  private isValid(g: number, low: number): boolean {
    const slot = g % this.capacity;
    return (this.flags[slot]! & HAS_STEP) !== 0 && Math.max(this.epStart[slot]!, g - this.frameStack + 1) >= low;
  }

  private writeStack<P>(g: number, ep: number, aug: Augmentation<P>, params: P, out: Uint8Array, outOffset: number, channels: number): void {
    const k = this.frameStack;
    const srcs = this.stackSrcs;
    const offsets = this.stackOffsets;
    for (let f = 0; f < k; f++) {
      const slot = Math.max(ep, g - k + 1 + f) % this.capacity;
      srcs[f] = this.frames.blockOf(slot);
      offsets[f] = this.frames.offsetOf(slot);
    }
    if (aug.writeStack) aug.writeStack(srcs, offsets, out, outOffset, params);
    else for (let f = 0; f < k; f++) aug.writeFrame(srcs[f]!, offsets[f]!, out, outOffset, f, channels, params);
    aug.finishStack?.(out, outOffset, channels, params);
  }

  private writeFrame(g: number, episodeStart: number, frame: Uint8Array): void {
    const slot = g % this.capacity;
    if (g >= this.capacity && this.flags[slot]! & HAS_STEP) this.stepsInWindow--;
    this.flags[slot] = 0;
    this.epStart[slot] = episodeStart;
    this.frames.write(slot, frame);
    this.written = g + 1;
  }

  private checkFrame(frame: Uint8Array, where: string): void {
    if (!(frame instanceof Uint8Array) || frame.length !== this.frameBytes) {
      const [h, w] = this.frameShape;
      const got = frame instanceof Uint8Array ? `${frame.length} bytes` : typeof frame;
      throw new ReplayError(`${where}: frame must be a Uint8Array of ${h}x${w}x3 = ${this.frameBytes} bytes (HWC), got ${got}`);
    }
  }
}

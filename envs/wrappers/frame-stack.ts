import { EnvError } from '../errors.js';
import { boxSpace, type Action, type BoxSpace, type Env, type EnvSnapshot, type ResetOptions, type ResetResult, type Space, type StepResult } from '../types.js';
import { Wrapper } from './wrapper.js';

/**
 * Stacks the last k HxWxC uint8 frames on the channel axis, frame-major and
 * oldest first: pixel (y, x) of the stack holds [f0 c0..cC-1, f1 c0.., ...].
 * At reset the first frame fills all k slots. The replay buffer rebuilds
 * stacks with the same layout, so the actor and the critic see the same thing.
 */
export class FrameStacker {
  readonly h: number;
  readonly w: number;
  readonly c: number;
  private readonly frames: Uint8Array[];
  private newest = -1;

  constructor(
    frameShape: readonly [number, number, number],
    readonly k: number,
  ) {
    const [h, w, c] = frameShape;
    for (const [name, v] of [['height', h], ['width', w], ['channels', c], ['k', k]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new EnvError(`FrameStacker: ${name} must be an integer >= 1, got ${v}`);
    }
    this.h = h;
    this.w = w;
    this.c = c;
    this.frames = Array.from({ length: k }, () => new Uint8Array(h * w * c));
  }

  get frameSize(): number {
    return this.h * this.w * this.c;
  }

  reset(frame: Uint8Array): Uint8Array {
    this.check(frame);
    for (const f of this.frames) f.set(frame);
    this.newest = this.k - 1;
    return this.stack();
  }

  push(frame: Uint8Array): Uint8Array {
    if (this.newest < 0) throw new EnvError('FrameStacker: push() before reset()');
    this.check(frame);
    this.newest = (this.newest + 1) % this.k;
    (this.frames[this.newest] as Uint8Array).set(frame);
    return this.stack();
  }

  /** The current stack (a fresh array the caller may keep). */
  stack(): Uint8Array {
    const { k, c } = this;
    const pixels = this.h * this.w;
    const out = new Uint8Array(pixels * c * k);
    for (let j = 0; j < k; j++) {
      // Slot j of the output is the j-th oldest frame.
      const src = this.frames[(this.newest + 1 + j) % k] as Uint8Array;
      let o = j * c;
      let s = 0;
      for (let p = 0; p < pixels; p++, o += c * k, s += c) {
        for (let ch = 0; ch < c; ch++) out[o + ch] = src[s + ch] as number;
      }
    }
    return out;
  }

  /** The k frames, oldest first (copies), for snapshots. */
  framesOldestFirst(): Uint8Array[] {
    return Array.from({ length: this.k }, (_, j) => (this.frames[(this.newest + 1 + j) % this.k] as Uint8Array).slice());
  }

  restoreFrames(frames: readonly Uint8Array[]): void {
    if (frames.length !== this.k) throw new EnvError(`FrameStacker: expected ${this.k} frames, got ${frames.length}`);
    frames.forEach((f, j) => {
      this.check(f);
      (this.frames[j] as Uint8Array).set(f);
    });
    this.newest = this.k - 1;
  }

  private check(frame: Uint8Array): void {
    if (!(frame instanceof Uint8Array) || frame.length !== this.frameSize) {
      throw new EnvError(
        `FrameStacker: frame must be a Uint8Array of ${this.h}x${this.w}x${this.c} = ${this.frameSize} bytes, got ${frame instanceof Uint8Array ? frame.length + ' bytes' : typeof frame}`,
      );
    }
  }
}

/** Env wrapper around FrameStacker: observation HxWx(C*k). */
export class FrameStack<A = Action> extends Wrapper<Uint8Array, A> {
  private readonly stacker: FrameStacker;
  private readonly space: BoxSpace;

  constructor(env: Env<Uint8Array, A>, k: number) {
    super(env);
    const s = env.observationSpace;
    if (s.kind !== 'box' || s.dtype !== 'uint8' || s.shape.length !== 3) {
      throw new EnvError(`FrameStack: ${env.id} must have a uint8 HxWxC Box observation space, got ${JSON.stringify(s)}`);
    }
    const [h, w, c] = s.shape as [number, number, number];
    this.stacker = new FrameStacker([h, w, c], k);
    this.space = boxSpace([h, w, c * k], 'uint8', s.low, s.high);
  }

  override get observationSpace(): Space {
    return this.space;
  }

  async reset(options?: ResetOptions): Promise<ResetResult<Uint8Array>> {
    const r = await this.env.reset(options);
    return { ...r, observation: this.stacker.reset(r.observation) };
  }

  async step(action: A): Promise<StepResult<Uint8Array>> {
    const r = await this.env.step(action);
    return { ...r, observation: this.stacker.push(r.observation) };
  }

  protected override ownState(): EnvSnapshot {
    return { frames: this.stacker.framesOldestFirst() };
  }
  protected override restoreOwnState(state: EnvSnapshot): void {
    const frames = state['frames'];
    if (!Array.isArray(frames)) throw new EnvError(`${this.id}: FrameStack snapshot has no frames`);
    this.stacker.restoreFrames(frames.map((f: unknown) => (f instanceof Uint8Array ? f : Uint8Array.from(f as ArrayLike<number>))));
  }
}

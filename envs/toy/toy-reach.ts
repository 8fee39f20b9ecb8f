import { Rng, type RngState } from '../../src/core/rng.js';
import { validateBoxAction } from '../action.js';
import { EnvError } from '../errors.js';
import { tolerance } from '../rewards.js';
import type { PhysicsStepResult, SkipRenderCapable } from '../skip-render.js';
import { boxSpace, type BoxSpace, type Env, type EnvSnapshot, type ResetOptions, type ResetResult, type SnapshotCapable, type StepResult } from '../types.js';
import type { PhysicalState, StateReadable } from '../state.js';

/** Arena half-width in world units; positions live in [-1, 1]^2. */
const ARENA = 1;
const SPEED = 0.05;
const TARGET_RADIUS = 0.15;
const DOT_RADIUS = 0.08;
/** Floor tiles per side (odd, so tiles do not line up with a stride-2 conv on even frame sizes); each has its own fixed shade. */
const TILES = 11;
/**
 * The floor's tile shades in [0, 1), fixed for every seed and episode (a
 * small LCG, not the env's Rng): without texture every random crop of the
 * empty floor is the same image, which made CURL degenerate on small frames.
 */
const TILE_SHADE: readonly number[] = (() => {
  let x = 12345;
  return Array.from({ length: TILES * TILES }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  });
})();

export interface ToyReachOptions {
  imageSize?: number;
  seed?: number;
}

type ToySnapshot = {
  kind: 'toy-reach';
  dot: [number, number];
  target: [number, number];
  rng: { prng: RngState; spareNormal: number | null };
};

/**
 * A tiny pure-JS pixel task for fast end-to-end tests: a green dot moved by a
 * 2-D action (0.05 per unit per step) toward a red target disc in a dark
 * square arena floored with 11x11 tiles of fixed, varied blue-grey shades.
 * Reward = tolerance(distance, bounds [0, target radius], margin 1,
 * gaussian), in [0, 1]. No physics, any image size.
 */
export class ToyReach implements Env<Uint8Array, Float32Array>, SnapshotCapable, SkipRenderCapable<Uint8Array, Float32Array>, StateReadable {
  readonly id = 'toy-reach';
  readonly observationSpace: BoxSpace;
  readonly actionSpace: BoxSpace = boxSpace([2], 'float32', -1, 1);
  readonly controlTimestep = 0.01;
  private readonly size: number;
  private rng: Rng;
  private dot: [number, number] = [0, 0];
  private target: [number, number] = [0, 0];
  private started = false;
  private readonly scratch = new Float64Array(2);

  constructor(options: ToyReachOptions = {}) {
    const size = options.imageSize ?? 100;
    if (!Number.isInteger(size) || size < 4 || size > 4096) throw new EnvError(`toy-reach: imageSize must be an integer in [4, 4096], got ${size}`);
    this.size = size;
    this.observationSpace = boxSpace([size, size, 3], 'uint8', 0, 255);
    this.rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 31));
  }

  reset(options: ResetOptions = {}): ResetResult<Uint8Array> {
    if (options.seed !== undefined) this.rng = new Rng(options.seed);
    const draw = (): number => (2 * this.rng.uniform() - 1) * 0.8 * ARENA;
    this.dot = [draw(), draw()];
    this.target = [draw(), draw()];
    this.started = true;
    return { observation: this.observe(), info: {} };
  }

  stepWithoutObservation(action: Float32Array): PhysicsStepResult {
    if (!this.started) throw new EnvError('toy-reach: step() called before reset()');
    const a = validateBoxAction(this.id, action, this.actionSpace, this.scratch);
    const clamp = (v: number): number => Math.min(ARENA, Math.max(-ARENA, v));
    this.dot = [clamp(this.dot[0] + SPEED * (a[0] as number)), clamp(this.dot[1] + SPEED * (a[1] as number))];
    return { reward: this.reward(), terminated: false, truncated: false, info: {} };
  }

  step(action: Float32Array): StepResult<Uint8Array> {
    return { ...this.stepWithoutObservation(action), observation: this.observe() };
  }

  reward(): number {
    const d = Math.hypot(this.dot[0] - this.target[0], this.dot[1] - this.target[1]);
    return tolerance(d, { bounds: [0, TARGET_RADIUS], margin: 1 });
  }

  /** Pixel centre of a world point: x to the right, y up. */
  toPixel(p: readonly [number, number]): [number, number] {
    const s = this.size;
    return [((p[0] + ARENA) / (2 * ARENA)) * s, ((ARENA - p[1]) / (2 * ARENA)) * s];
  }

  get state(): { dot: [number, number]; target: [number, number] } {
    return { dot: [...this.dot], target: [...this.target] };
  }

  observe(): Uint8Array {
    const s = this.size;
    const img = new Uint8Array(s * s * 3);
    const scale = s / (2 * ARENA);
    const [tx, ty] = this.toPixel(this.target);
    const [dx, dy] = this.toPixel(this.dot);
    const tr2 = (TARGET_RADIUS * scale) ** 2;
    // at least a pixel's radius, so the dot shows on the smallest test frames
    const dr2 = Math.max(1, DOT_RADIUS * scale) ** 2;
    const tile = (p: number): number => Math.min(TILES - 1, Math.floor((p / s) * TILES));
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const px = x + 0.5;
        const py = y + 0.5;
        const o = 3 * (y * s + x);
        if ((px - dx) ** 2 + (py - dy) ** 2 <= dr2) {
          img[o] = 40; img[o + 1] = 220; img[o + 2] = 60;
        } else if ((px - tx) ** 2 + (py - ty) ** 2 <= tr2) {
          img[o] = 220; img[o + 1] = 50; img[o + 2] = 40;
        } else {
          const shade = TILE_SHADE[tile(py) * TILES + tile(px)]!;
          img[o] = 25 + Math.round(60 * shade); img[o + 1] = 35 + Math.round(60 * shade); img[o + 2] = 50 + Math.round(70 * shade);
        }
      }
    }
    return img;
  }

  /** The dot's and the target's positions. */
  physicalState(): PhysicalState {
    return { names: ['dot.x', 'dot.y', 'target.x', 'target.y'], values: Float64Array.from([...this.dot, ...this.target]) };
  }

  getSnapshot(): EnvSnapshot {
    const snap: ToySnapshot = { kind: 'toy-reach', dot: [...this.dot], target: [...this.target], rng: this.rng.getState() };
    return snap;
  }

  restoreSnapshot(snapshot: EnvSnapshot): void {
    const s = snapshot as Partial<ToySnapshot>;
    if (s.kind !== 'toy-reach' || !s.dot || !s.target || !s.rng) throw new EnvError('toy-reach: not a toy-reach snapshot');
    this.dot = [s.dot[0], s.dot[1]];
    this.target = [s.target[0], s.target[1]];
    this.rng = Rng.fromState(s.rng);
    this.started = true;
  }

  close(): void {}
}

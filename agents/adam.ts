/*
 * Adam with PyTorch's update rule (the reference's optimiser): bias-corrected
 * moments, eps added to sqrt(v_hat) after the correction. Written here rather
 * than using tf.train.adam so that every slot and the step count are plain,
 * named state that a checkpoint can save and restore exactly.
 *
 * With libtorch's head kernels (agents/head-kernels.ts) the moments are host
 * arrays and each step is one native pass per parameter instead of ten tfjs
 * ops (about 80 ms over the critic's 4 M parameters on one wasm thread); the
 * float32 operations are the same, in the same order, so both agree bit for bit.
 *
 * One deliberate difference from torch.optim.Adam: every SUBNORMAL_FLUSH_EVERY
 * steps, a moment below FLT_MIN (a subnormal) is stored as zero. A dead ReLU
 * unit's gradient is zero, so its m decays by beta1 each step into the
 * subnormal range, where rounding keeps it at a few ulps forever, and x86
 * takes a microcode assist on every subnormal operand: late in a 100k run 3.35
 * M of the moments were subnormal and the critic's Adam step took 21x its
 * normal time (`npm run bench -- adam`). Once zero, a dead unit's m stays zero,
 * so flushing every few steps does what flushing every step does, without
 * tfjs paying four more ops per moment on each step (2.3x its Adam step on
 * wasm). The parameters are unchanged: such an m moves its parameter by under
 * 1e-30. TensorFlow's own CPU kernels flush subnormals on every op.
 */
import * as tf from '@tensorflow/tfjs';
import { hostOutput, hostValues } from './host-memory.js';
import type { NativeHeadKernels } from './native/addon.js';
import { variableFrom } from './params.js';

/** The smallest normal float32, 2^-126. */
export const FLOAT32_MIN_NORMAL = 2 ** -126;

/** Steps between flushes of subnormal moments: the steps t with t % SUBNORMAL_FLUSH_EVERY === 0. */
export const SUBNORMAL_FLUSH_EVERY = 16;

/** x with its subnormal values (0 < |x| < 2^-126) replaced by +0, as the native kernel stores them. */
export function flushSubnormals(x: tf.Tensor): tf.Tensor {
  return tf.where(tf.less(tf.abs(x), FLOAT32_MIN_NORMAL), tf.zerosLike(x), x);
}

export interface AdamOptions {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2?: number;
  readonly eps?: number;
}

export interface AdamState {
  t: number;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

export class Adam {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Number of steps taken (PyTorch's per-parameter `step`, shared here). */
  t = 0;
  private readonly m = new Map<string, tf.Variable | Float32Array>();
  private readonly v = new Map<string, tf.Variable | Float32Array>();

  constructor(
    private readonly params: ReadonlyMap<string, tf.Variable>,
    readonly names: readonly string[],
    options: AdamOptions,
    /** Steps on libtorch with host-side moments; tfjs ops when null. */
    private readonly native: NativeHeadKernels | null = null,
  ) {
    this.lr = options.lr;
    this.beta1 = options.beta1;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    for (const name of names) {
      const p = params.get(name);
      if (!p) throw new Error(`Adam: unknown parameter "${name}"`);
      this.m.set(name, native ? new Float32Array(p.size) : variableFrom(tf.zerosLike(p), false));
      this.v.set(name, native ? new Float32Array(p.size) : variableFrom(tf.zerosLike(p), false));
    }
  }

  /** One step; `grads` must hold a gradient for every parameter this optimiser owns. */
  step(grads: ReadonlyMap<string, tf.Tensor>): void {
    for (const name of this.names) {
      const g = grads.get(name);
      if (!g) throw new Error(`Adam.step: missing gradient for "${name}"`);
      const p = this.params.get(name)!;
      if (g.size !== p.size) throw new Error(`Adam.step: gradient of "${name}" has shape [${g.shape}], expected [${p.shape}]`);
    }
    this.t += 1;
    if (this.native) {
      this.stepNative(this.native, grads);
      return;
    }
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    const stepSize = this.lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    const flush = this.flushesSubnormals();
    const flushed = (x: tf.Tensor) => (flush ? flushSubnormals(x) : x);
    tf.tidy(() => {
      for (const name of this.names) {
        const g = grads.get(name)!;
        const p = this.params.get(name)!;
        const m = this.m.get(name) as tf.Variable;
        const v = this.v.get(name) as tf.Variable;
        const mNew = flushed(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        const vNew = flushed(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const denom = tf.add(tf.div(tf.sqrt(vNew), sqrtBc2), this.eps);
        p.assign(tf.sub(p, tf.mul(tf.div(mNew, denom), stepSize)));
        m.assign(mNew);
        v.assign(vNew);
      }
    });
  }

  /** Whether the step now being taken (this.t, already counted) stores subnormal moments as zero. */
  private flushesSubnormals(): boolean {
    return this.t % SUBNORMAL_FLUSH_EVERY === 0;
  }

  private stepNative(native: NativeHeadKernels, grads: ReadonlyMap<string, tf.Tensor>): void {
    const flush = this.flushesSubnormals();
    for (const name of this.names) {
      const p = this.params.get(name)!;
      tf.tidy(() => {
        // a new tensor for the new values: p's may be shared (a clone of it, a prepared copy keyed by it)
        const out = hostOutput(p.shape);
        native.adamStep(
          hostValues(p), hostValues(grads.get(name)!), this.m.get(name) as Float32Array, this.v.get(name) as Float32Array, out.view(),
          this.lr, this.beta1, this.beta2, this.eps, this.t, flush,
        );
        p.assign(out.tensor);
      });
    }
  }

  async getState(): Promise<AdamState> {
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    const copy = async (slot: tf.Variable | Float32Array) => (slot instanceof Float32Array ? slot.slice() : ((await slot.data()) as Float32Array));
    for (const name of this.names) {
      m[name] = await copy(this.m.get(name)!);
      v[name] = await copy(this.v.get(name)!);
    }
    return { t: this.t, m, v };
  }

  /** Throws for anything setState would refuse (`state` as read from a checkpoint, of any shape), changing nothing. */
  checkState(state: unknown, label: string): asserts state is AdamState {
    if (typeof state !== 'object' || state === null) throw new Error(`${label}: not an optimiser state`);
    const { t, m, v } = state as Record<string, unknown>;
    if (!Number.isSafeInteger(t) || (t as number) < 0) throw new Error(`${label}: step count must be a non-negative integer, got ${String(t)}`);
    for (const [slot, slots] of [['m', m], ['v', v]] as const) {
      if (typeof slots !== 'object' || slots === null) throw new Error(`${label}: no ${slot} slots`);
      for (const name of this.names) {
        const data = (slots as Record<string, unknown>)[name];
        const moment = this.m.get(name)!;
        const size = moment instanceof Float32Array ? moment.length : moment.size;
        if (data === undefined) throw new Error(`${label}: missing ${slot} slot for "${name}"`);
        if (!(data instanceof Float32Array)) throw new Error(`${label}: ${slot} slot of "${name}" is not float32 data`);
        if (data.length !== size) throw new Error(`${label}: ${slot} slot of "${name}" has ${data.length} values, expected ${size}`);
      }
    }
  }

  setState(state: AdamState, label: string): void {
    this.checkState(state, label);
    for (const name of this.names) {
      for (const [slot, vars] of [['m', this.m], ['v', this.v]] as const) {
        const target = vars.get(name)!;
        const data = state[slot][name]!;
        if (target instanceof Float32Array) target.set(data);
        else tf.tidy(() => target.assign(tf.tensor(data, target.shape, 'float32')));
      }
    }
    this.t = state.t;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) if (!(t instanceof Float32Array)) t.dispose();
  }
}

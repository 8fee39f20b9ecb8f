import * as tf from '@tensorflow/tfjs';
import { BUILD_HINT, loadConvAddon, precisions } from '../native/addon.js';
import type { NativeConvEngine, Precision, PreparedHead } from '../native/addon.js';
import type { ConvGrads, ConvParams } from '../networks.js';
import { dataId, hostValues } from '../host-memory.js';
import { matMul } from '../ops.js';
import type { ImageKey, Images } from './local.js';
import { createConvTower } from './sharded.js';
import type { ConvTower, ConvTowerOptions } from './sharded.js';

export type ConvEngineName = 'tfjs' | 'libtorch';

/** A dense layer on the flattened conv features: [F, L] and [L] (an encoder head before its LayerNorm). */
export interface DenseParams {
  readonly w: tf.Tensor2D;
  readonly b: tf.Tensor1D;
}

/**
 * A forward pass kept for a backward pass: 'anchor' keeps the conv stack's
 * activations (gradients reach the convs), 'detached' keeps the features only
 * (gradients stop at the head, as the actor's loss has them).
 */
export type TrunkSlot = 'anchor' | 'detached';

export interface TrunkGrads {
  readonly head: { w: tf.Tensor2D; b: tf.Tensor1D };
  readonly conv?: ConvGrads;
}

/**
 * The encoder's trunk over one batch: the conv stack and the dense layers that
 * read its flattened output, which together are nearly all of an update's
 * FLOPs. The LayerNorms, the MLPs, the losses and Adam stay with the agent.
 * Only [rows, latent] outputs and their gradients cross this interface, so an
 * engine keeps the [rows, F] features on its side.
 */
export interface EncoderTrunk {
  readonly engine: ConvEngineName;
  /** What the convs and dense heads compute in; outputs and gradients are fp32 tensors either way. */
  readonly precision: Precision;
  /** Threads the rows are split over (tfjs workers; 1 on libtorch). */
  readonly shards: number;
  /** Threads the passes run on. */
  readonly threads: number;
  load(images: Images, rows: number): Promise<void>;
  /** Each head's output [rows, L] on an image set; `keep` holds the pass for backward(). */
  forward(key: ImageKey, conv: ConvParams, heads: readonly DenseParams[], keep?: TrunkSlot): Promise<tf.Tensor2D[]>;
  /** Gradients for a head's output gradient dOut [rows, L] of a kept pass: the head's, and with `conv` the conv stack's. */
  backward(slot: TrunkSlot, conv: ConvParams, head: DenseParams, dOut: tf.Tensor2D, withConv: boolean): Promise<TrunkGrads>;
  release(): Promise<void>;
  dispose(): void;
}

/**
 * Runs calls one after another in the order they were made, so an update may
 * start a pass and do other work before awaiting it (an engine runs one pass
 * at a time, and a pass reads its parameters when it starts).
 */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;
  /** Starts fn now when nothing is pending (so a native pass begins before the caller's next synchronous work), else after the last call. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const call = (): Promise<T> => {
      try {
        return fn();
      } catch (error) {
        return Promise.reject(error);
      }
    };
    const next = this.pending === 0 ? call() : this.tail.then(call, call);
    this.pending += 1;
    const done = () => {
      this.pending -= 1;
    };
    this.tail = next.then(done, done);
    return next;
  }
}

export class TrunkError extends Error {
  constructor(message: string) {
    super(`agent: encoder trunk: ${message}`);
    this.name = 'TrunkError';
  }
}

/** The heads on tfjs over any conv tower (one thread, or worker shards). */
export class TfjsTrunk implements EncoderTrunk {
  readonly engine = 'tfjs' as const;
  readonly precision = 'fp32' as const;
  private readonly kept = new Map<TrunkSlot, tf.Tensor2D>();
  private readonly serial = new Serial();

  constructor(private readonly tower: ConvTower) {}

  get shards(): number {
    return this.tower.shards;
  }
  get threads(): number {
    return this.tower.shards;
  }

  load(images: Images, rows: number): Promise<void> {
    return this.serial.run(async () => {
      this.drop();
      await this.tower.load(images, rows);
    });
  }

  forward(key: ImageKey, conv: ConvParams, heads: readonly DenseParams[], keep?: TrunkSlot): Promise<tf.Tensor2D[]> {
    return this.serial.run(() => this.forwardNow(key, conv, heads, keep));
  }

  private async forwardNow(key: ImageKey, conv: ConvParams, heads: readonly DenseParams[], keep?: TrunkSlot): Promise<tf.Tensor2D[]> {
    const h = keep === 'anchor' ? await this.tower.anchor(key, conv) : await this.tower.features(key, conv);
    const outs = tf.tidy(() => heads.map((p) => tf.fused.matMul({ a: h, b: p.w, bias: p.b }) as tf.Tensor2D));
    if (keep) {
      this.kept.get(keep)?.dispose();
      this.kept.set(keep, h);
    } else h.dispose();
    return outs;
  }

  backward(slot: TrunkSlot, conv: ConvParams, head: DenseParams, dOut: tf.Tensor2D, withConv: boolean): Promise<TrunkGrads> {
    return this.serial.run(() => this.backwardNow(slot, conv, head, dOut, withConv));
  }

  private async backwardNow(slot: TrunkSlot, conv: ConvParams, head: DenseParams, dOut: tf.Tensor2D, withConv: boolean): Promise<TrunkGrads> {
    const h = this.kept.get(slot);
    if (!h) throw new TrunkError(`backward of '${slot}' before its forward pass kept it`);
    if (withConv && slot !== 'anchor') throw new TrunkError(`only the 'anchor' pass keeps the conv activations a conv gradient needs`);
    // explicit transposes: wasm's transposed matmul is ~10x slower (see ops.ts)
    const [w, b, dh] = tf.tidy(() => [
      matMul(tf.transpose(h), dOut),
      tf.sum(dOut, 0) as tf.Tensor1D,
      ...(withConv ? [matMul(dOut, tf.transpose(head.w))] : []),
    ]) as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D?];
    if (!dh) return { head: { w, b } };
    try {
      return { head: { w, b }, conv: await this.tower.anchorGrads(conv, dh) };
    } catch (error) {
      tf.dispose([w, b]);
      throw error;
    } finally {
      dh.dispose();
    }
  }

  private drop(): void {
    for (const h of this.kept.values()) h.dispose();
    this.kept.clear();
  }

  release(): Promise<void> {
    return this.serial.run(async () => {
      this.drop();
      await this.tower.release();
    });
  }

  dispose(): void {
    this.drop();
    this.tower.dispose();
  }
}

// Read synchronously: the engine must get its pass before the caller goes on to other work (the
// CPU backends this engine serves hold their data on the host, so a sync read does not stall a device).
function convArrays(p: ConvParams): [Float32Array[], Float32Array[]] {
  return [p.w.map((t) => t.dataSync() as Float32Array), p.b.map((t) => t.dataSync() as Float32Array)];
}


/**
 * The trunk on libtorch (agents/native): the batch's images go to the native
 * side once per update and stay there, as do the kept activations; only the
 * heads' [rows, L] outputs and the parameters' gradients come back. libtorch
 * threads inside each pass, so the rows are not sharded.
 */
export class LibtorchTrunk implements EncoderTrunk {
  readonly engine = 'libtorch' as const;
  readonly shards = 1;
  private rows = 0;
  private readonly serial = new Serial();
  /**
   * Heads in the engine's layout by the identity of their values: an update uses the same
   * head (8 MB at the paper's sizes) several times, e.g. the critic's at the anchor pass, its
   * backward and CURL's, and each conversion is a copy out of tfjs and a transpose.
   */
  private readonly prepared = new WeakMap<object, { b: object; head: PreparedHead }>();

  constructor(private readonly native: NativeConvEngine) {}

  private head(p: DenseParams): PreparedHead {
    const hit = this.prepared.get(dataId(p.w));
    if (hit && hit.b === dataId(p.b)) return hit.head;
    // read in place (the engine copies it into its layout at once): an 8 MB copy less per new head
    const head = this.native.prepareHead({ w: hostValues(p.w), b: hostValues(p.b) });
    this.prepared.set(dataId(p.w), { b: dataId(p.b), head });
    return head;
  }

  get threads(): number {
    return this.native.threads;
  }
  get precision(): Precision {
    return this.native.precision;
  }

  load(images: Images, rows: number): Promise<void> {
    return this.serial.run(async () => {
      const present: Record<string, Uint8Array> = {};
      for (const [key, bytes] of Object.entries(images)) if (bytes) present[key] = bytes;
      this.native.load(present, rows);
      this.rows = rows;
    });
  }

  forward(key: ImageKey, conv: ConvParams, heads: readonly DenseParams[], keep?: TrunkSlot): Promise<tf.Tensor2D[]> {
    return this.serial.run(() => this.forwardNow(key, conv, heads, keep));
  }

  private async forwardNow(key: ImageKey, conv: ConvParams, heads: readonly DenseParams[], keep?: TrunkSlot): Promise<tf.Tensor2D[]> {
    const [w, b] = convArrays(conv);
    const outs = await this.native.forward(key, w, b, heads.map((h) => this.head(h)), keep ?? '');
    return outs.map((o, i) => tf.tensor2d(o, [this.rows, heads[i]!.b.size]));
  }

  backward(slot: TrunkSlot, conv: ConvParams, head: DenseParams, dOut: tf.Tensor2D, withConv: boolean): Promise<TrunkGrads> {
    return this.serial.run(() => this.backwardNow(slot, conv, head, dOut, withConv));
  }

  private async backwardNow(slot: TrunkSlot, conv: ConvParams, head: DenseParams, dOut: tf.Tensor2D, withConv: boolean): Promise<TrunkGrads> {
    const [w, b] = convArrays(conv);
    const g = await this.native.backward(slot, w, b, this.head(head), dOut.dataSync() as Float32Array, withConv);
    const headGrads = { w: tf.tensor2d(g.headW, head.w.shape), b: tf.tensor1d(g.headB) };
    if (!withConv) return { head: headGrads };
    return {
      head: headGrads,
      conv: { w: g.w!.map((x, l) => tf.tensor4d(x, conv.w[l]!.shape)), b: g.b!.map((x) => tf.tensor1d(x)) },
    };
  }

  release(): Promise<void> {
    return this.serial.run(async () => {
      this.native.release();
      this.rows = 0;
    });
  }

  dispose(): void {
    try {
      this.native.release();
    } catch {
      // a pass still in flight holds its own references; they are freed when it settles
    }
  }
}

export interface TrunkOptions extends ConvTowerOptions {
  /** 'libtorch' needs the addon; src/conv-engine.ts makes the choice. */
  engine: ConvEngineName;
  /** libtorch's intra-op threads (the tfjs engine threads by `workers`). */
  threads: number;
  numLayers: number;
  numFilters: number;
  /** fp32 when left out; bf16 needs the libtorch engine (the master weights, the rest of the update and Adam stay fp32). */
  precision?: Precision;
}

export function createTrunk(options: TrunkOptions): EncoderTrunk {
  const precision = options.precision ?? 'fp32';
  if (!(precisions as readonly string[]).includes(precision)) {
    throw new TrunkError(`precision must be one of ${precisions.join(', ')}, got ${JSON.stringify(precision)}`);
  }
  if (options.engine === 'tfjs') {
    if (precision !== 'fp32') throw new TrunkError(`precision '${precision}' needs the libtorch engine; the tfjs engine computes in fp32`);
    return new TfjsTrunk(createConvTower(options));
  }
  const addon = loadConvAddon();
  if (!addon.available) throw new TrunkError(`${addon.reason}. ${BUILD_HINT}`);
  const [height, width, channels] = options.obsShape;
  const { numLayers: layers, numFilters: filters, threads } = options;
  return new LibtorchTrunk(new addon.binding.ConvEngine({ height, width, channels, layers, filters, threads, precision }));
}

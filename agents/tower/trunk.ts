import * as tf from '@tensorflow/tfjs';
import { BUILD_HINT, loadConvAddon } from '../native/addon.js';
import type { NativeConvEngine } from '../native/addon.js';
import type { ConvGrads, ConvParams } from '../networks.js';
import { matMul } from '../ops.js';
import type { ImageKey } from './local.js';
import { createConvTower } from './sharded.js';
import type { ConvTower, ConvTowerOptions } from './sharded.js';

export type ConvEngineName = 'tfjs' | 'libtorch';

type Images = Partial<Record<ImageKey, Uint8Array>>;

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

export class TrunkError extends Error {
  constructor(message: string) {
    super(`agent: encoder trunk: ${message}`);
    this.name = 'TrunkError';
  }
}

/** The heads on tfjs over any conv tower (one thread, or worker shards). */
export class TfjsTrunk implements EncoderTrunk {
  readonly engine = 'tfjs' as const;
  private readonly kept = new Map<TrunkSlot, tf.Tensor2D>();

  constructor(private readonly tower: ConvTower) {}

  get shards(): number {
    return this.tower.shards;
  }
  get threads(): number {
    return this.tower.shards;
  }

  async load(images: Images, rows: number): Promise<void> {
    this.drop();
    await this.tower.load(images, rows);
  }

  async forward(key: ImageKey, conv: ConvParams, heads: readonly DenseParams[], keep?: TrunkSlot): Promise<tf.Tensor2D[]> {
    const h = keep === 'anchor' ? await this.tower.anchor(key, conv) : await this.tower.features(key, conv);
    const outs = tf.tidy(() => heads.map((p) => tf.fused.matMul({ a: h, b: p.w, bias: p.b }) as tf.Tensor2D));
    if (keep) {
      this.kept.get(keep)?.dispose();
      this.kept.set(keep, h);
    } else h.dispose();
    return outs;
  }

  async backward(slot: TrunkSlot, conv: ConvParams, head: DenseParams, dOut: tf.Tensor2D, withConv: boolean): Promise<TrunkGrads> {
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

  async release(): Promise<void> {
    this.drop();
    await this.tower.release();
  }

  dispose(): void {
    this.drop();
    this.tower.dispose();
  }
}

async function convArrays(p: ConvParams): Promise<[Float32Array[], Float32Array[]]> {
  return Promise.all([
    Promise.all(p.w.map((t) => t.data() as Promise<Float32Array>)),
    Promise.all(p.b.map((t) => t.data() as Promise<Float32Array>)),
  ]);
}

async function headArrays(p: DenseParams): Promise<{ w: Float32Array; b: Float32Array }> {
  const [w, b] = await Promise.all([p.w.data() as Promise<Float32Array>, p.b.data() as Promise<Float32Array>]);
  return { w, b };
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

  constructor(private readonly native: NativeConvEngine) {}

  get threads(): number {
    return this.native.threads;
  }

  async load(images: Images, rows: number): Promise<void> {
    const present: Record<string, Uint8Array> = {};
    for (const [key, bytes] of Object.entries(images)) if (bytes) present[key] = bytes;
    this.native.load(present, rows);
    this.rows = rows;
  }

  async forward(key: ImageKey, conv: ConvParams, heads: readonly DenseParams[], keep?: TrunkSlot): Promise<tf.Tensor2D[]> {
    const [[w, b], hs] = await Promise.all([convArrays(conv), Promise.all(heads.map(headArrays))]);
    const outs = await this.native.forward(key, w, b, hs, keep ?? '');
    return outs.map((o, i) => tf.tensor2d(o, [this.rows, heads[i]!.b.size]));
  }

  async backward(slot: TrunkSlot, conv: ConvParams, head: DenseParams, dOut: tf.Tensor2D, withConv: boolean): Promise<TrunkGrads> {
    const [[w, b], hd, d] = await Promise.all([convArrays(conv), headArrays(head), dOut.data() as Promise<Float32Array>]);
    const g = await this.native.backward(slot, w, b, hd, d, withConv);
    const headGrads = { w: tf.tensor2d(g.headW, head.w.shape), b: tf.tensor1d(g.headB) };
    if (!withConv) return { head: headGrads };
    return {
      head: headGrads,
      conv: { w: g.w!.map((x, l) => tf.tensor4d(x, conv.w[l]!.shape)), b: g.b!.map((x) => tf.tensor1d(x)) },
    };
  }

  async release(): Promise<void> {
    this.native.release();
    this.rows = 0;
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
}

export function createTrunk(options: TrunkOptions): EncoderTrunk {
  if (options.engine === 'tfjs') return new TfjsTrunk(createConvTower(options));
  const addon = loadConvAddon();
  if (!addon.available) throw new TrunkError(`${addon.reason}. ${BUILD_HINT}`);
  const [height, width, channels] = options.obsShape;
  return new LibtorchTrunk(
    new addon.binding.ConvEngine({ height, width, channels, layers: options.numLayers, filters: options.numFilters, threads: options.threads }),
  );
}

import * as tf from '@tensorflow/tfjs';
import type { NativeConvEngine } from '../native/addon.js';
import type { ConvGrads, ConvParams } from '../networks.js';
import type { ImageKey } from './local.js';
import type { ConvTower } from './sharded.js';

type Images = Partial<Record<ImageKey, Uint8Array>>;

/** A conv stack's parameters as the addon takes them (tfjs layouts: filters [kh, kw, Cin, Cout]). */
async function paramArrays(p: ConvParams): Promise<[Float32Array[], Float32Array[]]> {
  const w = await Promise.all(p.w.map((t) => t.data() as Promise<Float32Array>));
  const b = await Promise.all(p.b.map((t) => t.data() as Promise<Float32Array>));
  return [w, b];
}

/**
 * The conv passes on libtorch (agents/native): the batch's images are copied
 * to the native side once per update and stay there between passes, as do the
 * anchor pass's activations for its backward passes. Only features [rows, F]
 * and their gradients cross into tfjs, where the heads, losses and optimizers
 * run. libtorch threads inside each pass, so the rows are not sharded.
 */
export class LibtorchConvTower implements ConvTower {
  readonly shards = 1;
  readonly engine = 'libtorch' as const;
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

  private toFeatures(f: Float32Array): tf.Tensor2D {
    return tf.tensor2d(f, [this.rows, f.length / this.rows]);
  }

  async features(key: ImageKey, p: ConvParams): Promise<tf.Tensor2D> {
    const [w, b] = await paramArrays(p);
    return this.toFeatures(await this.native.features(key, w, b));
  }

  async anchor(key: ImageKey, p: ConvParams): Promise<tf.Tensor2D> {
    const [w, b] = await paramArrays(p);
    return this.toFeatures(await this.native.anchor(key, w, b));
  }

  async anchorGrads(p: ConvParams, dh: tf.Tensor2D): Promise<ConvGrads> {
    const [[w, b], d] = await Promise.all([paramArrays(p), dh.data() as Promise<Float32Array>]);
    const g = await this.native.anchorGrads(w, b, d);
    return {
      w: g.w.map((x, l) => tf.tensor4d(x, p.w[l]!.shape)),
      b: g.b.map((x) => tf.tensor1d(x)),
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
      // a pass still in flight holds its own references; the engine frees them when it settles
    }
  }
}

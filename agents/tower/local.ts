import * as tf from '@tensorflow/tfjs';
import { convBackward, convForward } from '../networks.js';
import type { ConvGrads, ConvParams } from '../networks.js';

/** Which of a batch's image sets a conv pass reads. */
export type ImageKey = 'obs' | 'next' | 'pos';
/** A batch's images by key: uint8 HWC stacks, rows after rows. */
export type Images = Partial<Record<ImageKey, Uint8Array>>;

/** Rows [start, end) of a batch that go through the conv stack together. */
export function chunkRanges(n: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = 0; s < n; s += size) out.push([s, Math.min(n, s + size)]);
  return out;
}

interface KeptChunk {
  x: tf.Tensor4D;
  acts: tf.Tensor4D[];
  range: [number, number];
  transposed?: Array<tf.Tensor4D | undefined>;
}

/**
 * The conv stack over the rows of one batch held on this thread's backend,
 * one micro-batch at a time (bounds wasm memory). Images are uploaded once
 * per batch, chunk by chunk straight from the host (a device-side slice of
 * the whole batch costs more than the upload). `anchor` keeps what the
 * backward pass needs; `anchorGrads` may run more than once on it (critic,
 * then CURL), and with `cacheTransposes` the second run reuses the first's
 * transposed inputs.
 */
export class LocalConvTower {
  private readonly imageBytes: number;
  private readonly images = new Map<ImageKey, tf.Tensor4D[]>();
  private kept: KeptChunk[] | null = null;
  private rows = 0;

  constructor(
    private readonly obsShape: readonly [number, number, number],
    private readonly microBatch: number,
    private readonly cacheTransposes: boolean,
  ) {
    this.imageBytes = obsShape[0] * obsShape[1] * obsShape[2];
  }

  get rowCount(): number {
    return this.rows;
  }

  /** Replaces the held batch with `rows` rows of each given image set (uint8 HWC, row-major). */
  load(images: Images, rows: number): void {
    this.release();
    this.rows = rows;
    for (const [key, bytes] of Object.entries(images) as Array<[ImageKey, Uint8Array | undefined]>) {
      if (!bytes) continue;
      if (bytes.length !== rows * this.imageBytes) {
        throw new RangeError(`conv tower: '${key}' has ${bytes.length} bytes, expected ${rows} x ${this.imageBytes}`);
      }
      this.images.set(
        key,
        chunkRanges(rows, this.microBatch).map(([s, e]) =>
          tf.tensor4d(bytes.subarray(s * this.imageBytes, e * this.imageBytes), [e - s, ...this.obsShape], 'int32'),
        ),
      );
    }
  }

  private chunks(key: ImageKey): tf.Tensor4D[] {
    const chunks = this.images.get(key);
    if (!chunks) throw new RangeError(`conv tower: no '${key}' images loaded for this batch`);
    return chunks;
  }

  /** Conv features [rows, F] of an image set, no gradient. */
  features(key: ImageKey, p: ConvParams): tf.Tensor2D {
    return tf.tidy(() => {
      const parts = this.chunks(key).map((c) => convForward(tf.cast(c, 'float32') as tf.Tensor4D, p, false).h);
      return parts.length === 1 ? parts[0]! : (tf.concat(parts, 0) as tf.Tensor2D);
    });
  }

  /** Conv features [rows, F] of an image set, keeping the activations for anchorGrads. */
  anchor(key: ImageKey, p: ConvParams): tf.Tensor2D {
    this.dropKept();
    const kept: KeptChunk[] = [];
    let start = 0;
    for (const c of this.chunks(key)) {
      const range: [number, number] = [start, start + c.shape[0]];
      start = range[1];
      const x = tf.cast(c, 'float32') as tf.Tensor4D;
      const { h, acts } = convForward(x, p, true);
      h.dispose(); // a view of the last activation; rebuilt below from acts
      kept.push({ x, acts, range, ...(this.cacheTransposes ? { transposed: [] } : {}) });
    }
    this.kept = kept;
    return tf.tidy(() => {
      const parts = kept.map((k) => tf.reshape(k.acts[k.acts.length - 1]!, [k.range[1] - k.range[0], -1]) as tf.Tensor2D);
      return parts.length === 1 ? parts[0]! : (tf.concat(parts, 0) as tf.Tensor2D);
    });
  }

  /** Gradient of the conv parameters for the output gradient dh [rows, F] of the last anchor pass, summed over chunks. */
  anchorGrads(p: ConvParams, dh: tf.Tensor2D): ConvGrads {
    const kept = this.kept;
    if (!kept) throw new RangeError('conv tower: anchorGrads before anchor');
    return tf.tidy(() => {
      let w: tf.Tensor4D[] = [];
      let b: tf.Tensor1D[] = [];
      for (const k of kept) {
        const [s, e] = k.range;
        const g = kept.length === 1 ? dh : (tf.slice(dh, [s, 0], [e - s, -1]) as tf.Tensor2D);
        const grads = convBackward(k.x, k.acts, p, g, k.transposed);
        if (w.length === 0) ({ w, b } = grads);
        else {
          w = w.map((t, l) => tf.add(t, grads.w[l]!) as tf.Tensor4D);
          b = b.map((t, l) => tf.add(t, grads.b[l]!) as tf.Tensor1D);
        }
      }
      return { w, b };
    });
  }

  private dropKept(): void {
    if (!this.kept) return;
    for (const k of this.kept) tf.dispose([k.x, ...k.acts, ...(k.transposed ?? []).filter((t): t is tf.Tensor4D => t !== undefined)]);
    this.kept = null;
  }

  /** Frees the batch's images and kept activations. */
  release(): void {
    this.dropKept();
    for (const chunks of this.images.values()) tf.dispose(chunks);
    this.images.clear();
    this.rows = 0;
  }
}

// One update's encoder passes over the trunk: which image sets it holds
// (DrQ's K next views, then M obs views), passes started ahead and awaited
// later, and gradients of losses that read only view 0 of M.
import * as tf from '@tensorflow/tfjs';
import type { ConvParams } from '../networks.js';
import type { ImageKey } from './local.js';
import type { DenseParams, EncoderTrunk, TrunkGrads, TrunkSlot } from './trunk.js';

/** The images of one update: obs and next_obs views, and the aux positive (one view) when an objective reads it. */
export interface UpdateImages {
  readonly obs: Uint8Array;
  readonly next: Uint8Array;
  readonly pos: Uint8Array | null;
  /** rows of one view */
  readonly rows: number;
  /** views of next_obs (DrQ's K) and of obs (DrQ's M) */
  readonly nextViews: number;
  readonly obsViews: number;
}

export class EncoderPasses {
  /** Passes started ahead of the step that awaits them; settled and disposed by finish(). */
  private readonly inFlight: Array<Promise<tf.Tensor2D[]>> = [];
  /** Rows of the image sets the trunk holds now (B, or K x B / M x B in a DrQ update). */
  private rows = 0;
  /** The positive repeated M times (the trunk holds equal rows per set), reused across updates. */
  private posTiled: Uint8Array | null = null;
  private images: UpdateImages | null = null;

  constructor(readonly trunk: EncoderTrunk) {}

  /**
   * Loads what the first passes read. With one view of each, all three image
   * sets at once; with DrQ's views, the K next views now and the M obs views
   * (and the positive, tiled) in loadObs().
   */
  async begin(images: UpdateImages): Promise<void> {
    this.images = images;
    if (this.onePhase) {
      await this.load({ obs: images.obs, next: images.next, ...this.positive() }, images.rows);
    } else {
      await this.load({ next: images.next }, images.nextViews * images.rows);
    }
  }

  /** Queues the obs views' load behind the passes already started (resolved at once when begin() loaded them). */
  loadObs(): Promise<void> {
    const images = this.current();
    if (this.onePhase) return Promise.resolve();
    const loaded = this.load({ obs: images.obs, ...this.positive() }, images.obsViews * images.rows);
    loaded.catch(() => undefined);
    return loaded;
  }

  /** A pass awaited by the caller right away. */
  forward(key: ImageKey, conv: ConvParams, heads: readonly DenseParams[], keep?: TrunkSlot): Promise<tf.Tensor2D[]> {
    return this.trunk.forward(key, conv, heads, keep);
  }

  /**
   * A pass started now and awaited later: it reads its parameters when the
   * engine gets to it (after the passes queued before it), and it is tracked
   * so that finish() disposes its outputs if the update fails before awaiting it.
   */
  start(key: ImageKey, conv: ConvParams, heads: readonly DenseParams[], keep?: TrunkSlot): Promise<tf.Tensor2D[]> {
    const pass = this.trunk.forward(key, conv, heads, keep);
    pass.catch(() => undefined);
    this.inFlight.push(pass);
    return pass;
  }

  /**
   * The trunk's gradients for a head-output gradient `du` of a kept pass;
   * `du` is disposed. A loss that reads view 0 of a pass over M views gives
   * the other views' rows a zero gradient.
   */
  async backward(slot: TrunkSlot, conv: ConvParams, head: DenseParams, du: tf.Tensor2D): Promise<TrunkGrads> {
    let full = du;
    if (du.shape[0] < this.rows) {
      full = tf.tidy(() => tf.concat([du, tf.zeros([this.rows - du.shape[0], du.shape[1]])], 0) as tf.Tensor2D);
      du.dispose();
    }
    try {
      return await this.trunk.backward(slot, conv, head, full, slot === 'anchor');
    } finally {
      full.dispose();
    }
  }

  /** View 0 (the first `rows` rows) of each output of a pass over several views; the caller disposes the slices. */
  firstView(ts: readonly tf.Tensor2D[]): tf.Tensor2D[] {
    const rows = this.current().rows;
    return ts.map((t) => tf.slice(t, [0, 0], [rows, -1]) as tf.Tensor2D);
  }

  /** Ends the update: passes never awaited (an earlier step failed) release their outputs; the trunk drops the batch. */
  async finish(): Promise<void> {
    await Promise.all(this.inFlight.splice(0).map((p) => p.then((ts) => tf.dispose(ts), () => undefined)));
    await this.trunk.release();
    this.rows = 0;
    this.images = null;
  }

  private get onePhase(): boolean {
    const images = this.current();
    return images.nextViews === 1 && images.obsViews === 1;
  }

  private current(): UpdateImages {
    if (!this.images) throw new Error('agent: encoder passes: no update in progress (begin() first)');
    return this.images;
  }

  private positive(): { pos?: Uint8Array } {
    const images = this.current();
    if (!images.pos) return {};
    const m = images.obsViews;
    if (m === 1) return { pos: images.pos };
    const n = images.pos.length * m;
    if (this.posTiled?.length !== n) this.posTiled = new Uint8Array(n);
    for (let i = 0; i < m; i++) this.posTiled.set(images.pos, i * images.pos.length);
    return { pos: this.posTiled };
  }

  private load(images: Partial<Record<ImageKey, Uint8Array>>, rows: number): Promise<void> {
    this.rows = rows;
    return this.trunk.load(images, rows);
  }
}

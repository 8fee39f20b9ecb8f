// MoCo's queue of past keys (He et al. 2020): the momentum encoder's latents
// of the last K samples, kept as extra negatives. One ring for every
// objective that reads --aux-queue (the CURL family, MoCHi); each names its
// checkpoint state `<prefix>.queue` and `<prefix>.queueSizePtr`.
import * as tf from '@tensorflow/tfjs';
import { AgentError } from '../types.js';
import type { TensorRecord } from '../tensor-record.js';

export class KeyQueue {
  /** `size` keys in rows [0, size) of [K, L], the next write at `ptr` (oldest first overwritten). */
  private readonly rows: Float32Array;
  private size = 0;
  private ptr = 0;

  constructor(readonly capacity: number, readonly dim: number, private readonly prefix: string) {
    this.rows = new Float32Array(capacity * dim);
  }

  /** Keys held now. */
  get length(): number {
    return this.size;
  }

  /** `batch` [N, L], then the queue's keys in slot order (the filled rows only). */
  withBatch(batch: tf.Tensor2D): tf.Tensor2D {
    if (this.size === 0) return batch;
    return tf.tidy(() => tf.concat([batch, tf.tensor2d(this.rows.subarray(0, this.size * this.dim), [this.size, this.dim])], 0) as tf.Tensor2D);
  }

  /** Takes the rows of `keys` [N, L] (row-major) in order; only the last K of a larger batch stay. */
  push(keys: Float32Array): void {
    const K = this.capacity;
    if (K === 0) return;
    const L = this.dim;
    const n = keys.length / L;
    for (let r = Math.max(0, n - K); r < n; r++) {
      this.rows.set(keys.subarray(r * L, (r + 1) * L), this.ptr * L);
      this.ptr = (this.ptr + 1) % K;
      this.size = Math.min(K, this.size + 1);
    }
  }

  /** The queue as it stands (rows beyond `size` are zeros). */
  snapshot(): { keys: Float32Array; size: number; ptr: number } {
    return { keys: this.rows.slice(), size: this.size, ptr: this.ptr };
  }

  getState(): Record<string, TensorRecord> {
    if (this.capacity === 0) return {};
    return {
      [`${this.prefix}.queue`]: { shape: [this.capacity, this.dim], data: this.rows.slice() },
      [`${this.prefix}.queueSizePtr`]: { shape: [2], data: Float32Array.from([this.size, this.ptr]) },
    };
  }

  checkState(state: Record<string, TensorRecord> | undefined): void {
    const K = this.capacity;
    const q = state?.[`${this.prefix}.queue`];
    const meta = state?.[`${this.prefix}.queueSizePtr`];
    if (K === 0) {
      if (q) throw new AgentError(`setState: the state has a key queue of ${q.shape[0]} but this agent has --aux-queue 0`);
      return;
    }
    if (!q || !meta) throw new AgentError(`setState: the state has no key queue, this agent has --aux-queue ${K}`);
    if (q.shape.join() !== [K, this.dim].join() || q.data.length !== this.rows.length) {
      throw new AgentError(`setState: key queue has shape [${q.shape}], this agent expects [${K}, ${this.dim}] (--aux-queue ${K})`);
    }
    if (meta.data.length !== 2) throw new AgentError(`setState: key queue size/pointer has ${meta.data.length} values, expected 2`);
    const [size, ptr] = [meta.data[0]!, meta.data[1]!];
    if (!Number.isInteger(size) || !Number.isInteger(ptr) || size < 0 || size > K || ptr < 0 || ptr >= K) {
      throw new AgentError(`setState: key queue size/pointer ${size}/${ptr} out of range for --aux-queue ${K}`);
    }
  }

  /** Loads a state checkState accepted (call it first). */
  setState(state: Record<string, TensorRecord> | undefined): void {
    if (this.capacity === 0) return;
    const [q, meta] = [state![`${this.prefix}.queue`]!, state![`${this.prefix}.queueSizePtr`]!];
    this.rows.set(q.data);
    this.size = meta.data[0]!;
    this.ptr = meta.data[1]!;
  }
}

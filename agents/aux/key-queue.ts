// MoCo's key queue (He et al. 2020), as the objectives that read --aux-queue
// keep it: the momentum encoder's latents of the last K samples, a ring
// filled oldest-first, saved in checkpoints under `<prefix>.queue` and
// `<prefix>.queueSizePtr`. CURL's family reads it as extra negatives, NCE as
// its noise pool, MoCHi as negatives to mine and mix.
import * as tf from '@tensorflow/tfjs';
import { latent } from '../networks.js';
import type { TensorRecord } from '../tensor-record.js';
import { AgentError } from '../types.js';
import type { AuxInputs } from './objective.js';

export class KeyQueue {
  /** `size` keys in rows [0, size) of [K, L], the next write at `ptr` (oldest first overwritten). */
  private readonly keys: Float32Array;
  private size = 0;
  private ptr = 0;

  constructor(readonly capacity: number, readonly dim: number, private readonly prefix: string) {
    this.keys = new Float32Array(capacity * dim);
  }

  /** Rows filled so far. */
  get filled(): number {
    return this.size;
  }

  /** The filled rows in slot order, [size, L]; null while empty. */
  tensor(): tf.Tensor2D | null {
    if (this.size === 0) return null;
    return tf.tensor2d(this.keys.subarray(0, this.size * this.dim), [this.size, this.dim]);
  }

  /** Appends the rows of `z` [N, L] (the last K of them when N > K). */
  async push(z: tf.Tensor2D): Promise<void> {
    const K = this.capacity;
    if (K === 0) return;
    const L = this.dim;
    const data = (await z.data()) as Float32Array;
    const rows = data.length / L;
    for (let r = Math.max(0, rows - K); r < rows; r++) {
      this.keys.set(data.subarray(r * L, (r + 1) * L), this.ptr * L);
      this.ptr = (this.ptr + 1) % K;
      this.size = Math.min(K, this.size + 1);
    }
  }

  /** Appends this update's keys, the momentum encoder's latents of the positive crop (an objective's afterStep). */
  async pushKeys(inp: AuxInputs): Promise<void> {
    if (this.capacity === 0) return;
    const z = tf.tidy(() => latent(inp.uPosT!, inp.fixed, 'target.critic'));
    try {
      await this.push(z);
    } finally {
      z.dispose();
    }
  }

  /** The queue as it stands (rows beyond `size` are zeros). */
  snapshot(): { keys: Float32Array; size: number; ptr: number } {
    return { keys: this.keys.slice(), size: this.size, ptr: this.ptr };
  }

  /** Nothing when K = 0. */
  getState(): Record<string, TensorRecord> {
    if (this.capacity === 0) return {};
    return {
      [`${this.prefix}.queue`]: { shape: [this.capacity, this.dim], data: this.keys.slice() },
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
    if (q.shape.join() !== [K, this.dim].join() || q.data.length !== this.keys.length) {
      throw new AgentError(`setState: key queue has shape [${q.shape}], this agent expects [${K}, ${this.dim}] (--aux-queue ${K})`);
    }
    if (meta.data.length !== 2) throw new AgentError(`setState: key queue size/pointer has ${meta.data.length} values, expected 2`);
    const [size, ptr] = [meta.data[0]!, meta.data[1]!];
    if (!Number.isInteger(size) || !Number.isInteger(ptr) || size < 0 || size > K || ptr < 0 || ptr >= K) {
      throw new AgentError(`setState: key queue size/pointer ${size}/${ptr} out of range for --aux-queue ${K}`);
    }
  }

  setState(state: Record<string, TensorRecord> | undefined): void {
    this.checkState(state);
    if (this.capacity === 0) return;
    const [q, meta] = [state![`${this.prefix}.queue`]!, state![`${this.prefix}.queueSizePtr`]!];
    this.keys.set(q.data);
    this.size = meta.data[0]!;
    this.ptr = meta.data[1]!;
  }
}

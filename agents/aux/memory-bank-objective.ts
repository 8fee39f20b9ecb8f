// Instance discrimination with a memory bank as the agent runs it (see memory-bank.ts).
import * as tf from '@tensorflow/tfjs';
import { AgentError } from '../types.js';
import type { TensorRecord } from '../tensor-record.js';
import type { AuxCreateContext } from './descriptor.js';
import { ObjectiveDraws } from './draws.js';
import { l2Normalize } from './embedding.js';
import { latent } from '../networks.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';

export interface BankLossOptions {
  readonly temperature: number;
  /** lambda of the proximal term */
  readonly proximal: number;
}

/**
 * f [B, D] the current features (L2-normalised here), v [B, D] each row's
 * bank entry (unit rows, constants), valid [B] 1 where a row has an entry of
 * its own transition (0: a first visit, left out), negatives [m, D] (unit
 * rows) with ownNegative [B, m] 1 where negative j is row i's own entry
 * (pushed out of its softmax). For a valid row, with s = f . x / T:
 *
 *   l_i = log(e^{s(v_i)} + sum_{j not own} e^{s(n_j)}) - s(v_i) + lambda ||f_i - v_i||^2
 *
 * loss = sum_i valid_i l_i / max(1, sum valid). Accuracy: valid rows whose
 * entry scores above every negative; proximal: the mean ||f_i - v_i||^2 of
 * the valid rows (before lambda).
 */
export function memoryBankLoss(
  f: tf.Tensor2D, v: tf.Tensor2D, valid: tf.Tensor1D, negatives: tf.Tensor2D | null, ownNegative: tf.Tensor2D | null, o: BankLossOptions,
): { loss: tf.Scalar; accuracy: tf.Scalar; proximal: tf.Scalar } {
  return tf.tidy(() => {
    const fn = l2Normalize(f);
    const count = tf.maximum(tf.sum(valid), 1);
    const pos = tf.div(tf.sum(tf.mul(fn, v), 1), o.temperature);
    let ce: tf.Tensor = tf.zerosLike(pos);
    let correct: tf.Tensor = tf.onesLike(pos);
    if (negatives && ownNegative) {
      const neg = tf.sub(tf.div(tf.matMul(fn, negatives, false, true), o.temperature), tf.mul(ownNegative, 1e9));
      ce = tf.sub(tf.logSumExp(tf.concat([tf.expandDims(pos, 1), neg], 1), 1), pos);
      correct = tf.cast(tf.greater(pos, tf.max(neg, 1)), 'float32');
    }
    const drift = tf.sum(tf.square(tf.sub(fn, v)), 1);
    const perRow = tf.add(ce, tf.mul(drift, o.proximal));
    const mean = (x: tf.Tensor) => tf.div(tf.sum(tf.mul(x, valid)), count) as tf.Scalar;
    return { loss: mean(perRow), accuracy: mean(correct), proximal: mean(drift) };
  });
}

/** g = hi x 2^24 + lo: both parts exact in float32 for g < 2^48. */
const SPLIT = 2 ** 24;

export interface MemoryBankValues {
  readonly auxTemperature: number;
  readonly auxBankNegatives: number;
  readonly auxBankMomentum: number;
  readonly auxProximal: number;
}

export class MemoryBankObjective implements AuxObjective {
  readonly name = 'memory-bank';
  readonly ownNames: readonly string[] = [];
  readonly optimizerKey = 'memory-bank';
  readonly metricPrefix = 'aux' as const;
  /** [n, D]: slot r's feature, unit norm once filled. */
  private readonly bank: Float32Array;
  /** The transition (replay index g, slot g % n) whose feature slot r holds; -1 while empty. */
  private readonly owner: Float64Array;
  /** The slots ever filled, in the order they were first filled (the negatives are drawn from this list). */
  private readonly filled: Int32Array;
  private filledCount = 0;
  private readonly draws: ObjectiveDraws;
  /** This update's features, from the loss to afterStep. */
  private pending: tf.Tensor2D | null = null;

  constructor(readonly slots: number, readonly dim: number, private readonly o: MemoryBankValues, seed: number) {
    this.bank = new Float32Array(slots * dim);
    this.owner = new Float64Array(slots).fill(-1);
    this.filled = new Int32Array(slots).fill(-1);
    this.draws = new ObjectiveDraws(seed, 'memory-bank');
  }

  private indices(inp: AuxInputs): Float64Array {
    if (!inp.indices) throw new AgentError("aux 'memory-bank' needs each row's replay index (AuxInputs.indices, from batch.indices)");
    if (inp.indices.length !== inp.uA.shape[0]) {
      throw new AgentError(`aux 'memory-bank': ${inp.indices.length} replay indices for ${inp.uA.shape[0]} rows (one per row of view 0)`);
    }
    return inp.indices;
  }

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const indices = this.indices(inp);
    const b = indices.length;
    const [n, d] = [this.slots, this.dim];
    const rowSlots = Int32Array.from(indices, (g) => g % n);
    const valid = new Float32Array(b);
    const v = new Float32Array(b * d);
    for (let i = 0; i < b; i++) {
      const slot = rowSlots[i]!;
      if (this.owner[slot] !== indices[i]) continue;
      valid[i] = 1;
      v.set(this.bank.subarray(slot * d, (slot + 1) * d), i * d);
    }
    const m = Math.min(this.o.auxBankNegatives, this.filledCount);
    const negSlots = new Int32Array(m);
    const negatives = new Float32Array(m * d);
    for (let j = 0; j < m; j++) {
      const slot = this.filled[this.draws.int(this.filledCount)]!;
      negSlots[j] = slot;
      negatives.set(this.bank.subarray(slot * d, (slot + 1) * d), j * d);
    }
    const f = latent(inp.uA, inp.params, 'critic');
    this.pending?.dispose();
    this.pending = tf.keep(tf.tidy(() => l2Normalize(f).clone()));
    const out = tf.tidy(() => {
      const own = m > 0
        ? tf.cast(tf.equal(tf.tensor2d(rowSlots, [b, 1], 'int32'), tf.tensor2d(negSlots, [1, m], 'int32')), 'float32') as tf.Tensor2D
        : null;
      return memoryBankLoss(
        f, tf.tensor2d(v, [b, d]), tf.tensor1d(valid), m > 0 ? tf.tensor2d(negatives, [m, d]) : null, own,
        { temperature: this.o.auxTemperature, proximal: this.o.auxProximal },
      );
    });
    record('auxAccuracy', out.accuracy);
    record('auxProximal', out.proximal);
    return out.loss;
  }

  /** The bank takes this update's features: v <- unit(mu v + (1 - mu) f) for an entry of the same transition, f for a new one, row by row. */
  async afterStep(inp: AuxInputs): Promise<void> {
    const indices = this.indices(inp);
    const pending = this.pending;
    if (!pending) throw new AgentError("aux 'memory-bank': afterStep without a loss this update");
    this.pending = null;
    const f = (await pending.data()) as Float32Array;
    pending.dispose();
    const [n, d, mu] = [this.slots, this.dim, this.o.auxBankMomentum];
    for (let i = 0; i < indices.length; i++) {
      const g = indices[i]!;
      const slot = g % n;
      const row = this.bank.subarray(slot * d, (slot + 1) * d);
      const fi = f.subarray(i * d, (i + 1) * d);
      if (this.owner[slot] === g) {
        let norm = 0;
        const mixed = Array.from(row, (x, k) => mu * x + (1 - mu) * fi[k]!);
        for (const x of mixed) norm += x * x;
        const scale = 1 / Math.max(Math.sqrt(norm), 1e-12);
        mixed.forEach((x, k) => (row[k] = x * scale));
      } else {
        if (this.owner[slot]! < 0) this.filled[this.filledCount++] = slot;
        row.set(fi);
        this.owner[slot] = g;
      }
    }
  }

  /** The bank as it stands, for tests. */
  snapshot(): { bank: Float32Array; owner: Float64Array; filled: Int32Array; filledCount: number } {
    return { bank: this.bank.slice(), owner: this.owner.slice(), filled: this.filled.slice(), filledCount: this.filledCount };
  }

  async getState(): Promise<Record<string, TensorRecord>> {
    const owner = new Float32Array(2 * this.slots);
    this.owner.forEach((g, r) => {
      const hi = g < 0 ? -1 : Math.floor(g / SPLIT);
      owner[2 * r] = hi;
      owner[2 * r + 1] = g < 0 ? 0 : g - hi * SPLIT;
    });
    return {
      'memory-bank.bank': { shape: [this.slots, this.dim], data: this.bank.slice() },
      'memory-bank.owner': { shape: [this.slots, 2], data: owner },
      'memory-bank.filled': { shape: [this.slots], data: Float32Array.from(this.filled) },
      ...this.draws.getState(),
    };
  }

  checkState(state: Record<string, TensorRecord> | undefined): void {
    const [n, d] = [this.slots, this.dim];
    const rec = (name: string, shape: number[]): TensorRecord => {
      const r = state?.[`memory-bank.${name}`];
      if (!r) throw new AgentError(`setState: the state has no memory-bank.${name}; this agent has aux 'memory-bank' with ${n} bank slots`);
      if (r.shape.join() !== shape.join()) {
        throw new AgentError(`setState: memory-bank.${name} has shape [${r.shape}], this agent expects [${shape}] (bank slots = --replay-capacity ${n}, latent ${d})`);
      }
      return r;
    };
    rec('bank', [n, d]);
    const owner = rec('owner', [n, 2]).data;
    const filled = rec('filled', [n]).data;
    let count = 0;
    for (let r = 0; r < n; r++) {
      const [hi, lo] = [owner[2 * r]!, owner[2 * r + 1]!];
      if (hi === -1 && lo === 0) continue;
      if (!Number.isInteger(hi) || !Number.isInteger(lo) || hi < 0 || lo < 0 || lo >= SPLIT || (hi * SPLIT + lo) % n !== r) {
        throw new AgentError(`setState: memory-bank.owner of slot ${r} is ${hi}/${lo}, not empty (-1/0) nor a replay index of that slot`);
      }
      count++;
    }
    const seen = new Set<number>();
    for (let k = 0; k < n; k++) {
      const slot = filled[k]!;
      const ok = k < count ? Number.isInteger(slot) && slot >= 0 && slot < n && owner[2 * slot] !== -1 && !seen.has(slot) : slot === -1;
      if (!ok) throw new AgentError(`setState: memory-bank.filled does not list the ${count} filled slots once each, then -1 (entry ${k} is ${slot})`);
      seen.add(slot);
    }
    this.draws.checkState(state);
  }

  setState(state: Record<string, TensorRecord> | undefined): void {
    this.checkState(state);
    const s = state!;
    this.bank.set(s['memory-bank.bank']!.data);
    const owner = s['memory-bank.owner']!.data;
    for (let r = 0; r < this.slots; r++) this.owner[r] = owner[2 * r] === -1 ? -1 : owner[2 * r]! * SPLIT + owner[2 * r + 1]!;
    this.filled.set(s['memory-bank.filled']!.data);
    this.filledCount = this.owner.reduce((c, g) => c + (g >= 0 ? 1 : 0), 0);
    this.draws.setState(state);
    this.pending?.dispose();
    this.pending = null;
  }

  dispose(): void {
    this.pending?.dispose();
    this.pending = null;
  }
}

export function create({ latentDim, options, rng, replayCapacity }: AuxCreateContext<MemoryBankValues>): MemoryBankObjective {
  if (replayCapacity === undefined || !Number.isSafeInteger(replayCapacity) || replayCapacity < 1) {
    throw new AgentError(`aux 'memory-bank' keeps one bank slot per replay slot, so the agent config needs replayCapacity (a positive integer), got ${replayCapacity}`);
  }
  return new MemoryBankObjective(replayCapacity, latentDim, options, rng.nextSeed());
}

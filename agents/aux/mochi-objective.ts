// MoCHi as the agent runs it (see mochi.ts).
import * as tf from '@tensorflow/tfjs';
import type { TensorRecord } from '../tensor-record.js';
import type { AuxCreateContext } from './descriptor.js';
import { ObjectiveDraws } from './draws.js';
import { l2Normalize, stopGradient } from './embedding.js';
import { KeyQueue } from './key-queue.js';
import { latent } from '../networks.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';

/**
 * Where each query's synthetic negatives come from, as positions 0..n-1 in
 * its list of hardest negatives (hardest first): s pairs (first, second) with
 * the first one's weight alpha in [0, 1), and s' single ones with the
 * query's weight beta in [0, 1/2). Row-major [B, s] and [B, s'].
 */
export interface MochiMixes {
  readonly s: number;
  readonly sQuery: number;
  readonly first: Int32Array;
  readonly second: Int32Array;
  readonly alpha: Float32Array;
  readonly single: Int32Array;
  readonly beta: Float32Array;
}

/** The positions and weights of B queries' mixes, drawn query by query: its s pairs and alphas, then its s' singles and betas. */
export function drawMixes(draws: { int(n: number): number; uniform(): number }, b: number, n: number, s: number, sQuery: number): MochiMixes {
  const m: MochiMixes = {
    s, sQuery,
    first: new Int32Array(b * s), second: new Int32Array(b * s), alpha: new Float32Array(b * s),
    single: new Int32Array(b * sQuery), beta: new Float32Array(b * sQuery),
  };
  for (let r = 0; r < b; r++) {
    for (let k = r * s; k < (r + 1) * s; k++) {
      m.first[k] = draws.int(n);
      m.second[k] = draws.int(n);
      m.alpha[k] = draws.uniform();
    }
    for (let k = r * sQuery; k < (r + 1) * sQuery; k++) {
      m.single[k] = draws.int(n);
      m.beta[k] = draws.uniform() / 2;
    }
  }
  return m;
}

/** Rows of x [B, s, L] scaled to unit norm along L (as l2Normalize). */
function unit3(x: tf.Tensor3D): tf.Tensor3D {
  return tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), 2, true), 1e-24))) as tf.Tensor3D;
}

/**
 * MoCHi's logits [B, M + s + s'] / T. q [B, L] are the queries, keys [M, L]
 * with key i the positive of query i and every other key a negative; both
 * are L2-normalised here. Each query's n hardest negatives (highest cosine,
 * its own key excluded; `hard`, [B, n] key rows, hardest first) give its synthetic
 * negatives
 *
 *   h_k  = unit(alpha_k n_first + (1 - alpha_k) n_second)       (s of them)
 *   h'_k = unit(beta_k q + (1 - beta_k) n_single)               (s' of them)
 *
 * whose logits q . h / T follow the keys'. The synthetic negatives are
 * constants, as the keys are: the gradient reaches the query through q only
 * (not through the q inside h').
 */
export function mochiLogits(q: tf.Tensor2D, keys: tf.Tensor2D, n: number, mixes: MochiMixes, temperature: number): { logits: tf.Tensor2D; hard: Int32Array } {
  let hard: Int32Array = new Int32Array(0);
  const logits = tf.tidy(() => {
    const b = q.shape[0];
    const m = keys.shape[0];
    const qn = l2Normalize(q);
    const kn = stopGradient(l2Normalize(keys));
    const cos = tf.matMul(qn, kn, false, true) as tf.Tensor2D;
    if (n > 0) {
      // read back: indices derived from the query would put an int gather on the gradient tape
      const own = tf.oneHot(tf.range(0, b, 1, 'int32') as tf.Tensor1D, m);
      hard = tf.topk(tf.sub(stopGradient(cos), tf.mul(own, 1e9)), n).indices.dataSync() as Int32Array;
    }
    /** [B, count, L]: row r's negatives at `positions` (0..n-1) of its hardest list. */
    const rows = (positions: Int32Array, count: number) => {
      const keyRows = Int32Array.from(positions, (p, k) => hard[Math.floor(k / count) * n + p]!);
      return tf.reshape(tf.gather(kn, tf.tensor1d(keyRows, 'int32')), [b, count, -1]) as tf.Tensor3D;
    };
    const parts: tf.Tensor2D[] = [cos];
    const q3 = tf.expandDims(qn, 1) as tf.Tensor3D;
    if (mixes.s > 0) {
      const alpha = tf.tensor3d(mixes.alpha, [b, mixes.s, 1]);
      const h = unit3(tf.add(tf.mul(alpha, rows(mixes.first, mixes.s)), tf.mul(tf.sub(1, alpha), rows(mixes.second, mixes.s))) as tf.Tensor3D);
      parts.push(tf.sum(tf.mul(q3, h), 2) as tf.Tensor2D);
    }
    if (mixes.sQuery > 0) {
      const beta = tf.tensor3d(mixes.beta, [b, mixes.sQuery, 1]);
      const h = unit3(tf.add(tf.mul(beta, stopGradient(q3)), tf.mul(tf.sub(1, beta), rows(mixes.single, mixes.sQuery))) as tf.Tensor3D);
      parts.push(tf.sum(tf.mul(q3, h), 2) as tf.Tensor2D);
    }
    return tf.div(parts.length === 1 ? cos : tf.concat(parts, 1), temperature) as tf.Tensor2D;
  });
  return { logits, hard };
}

/** Cross-entropy with query i's positive in column i (the synthetic columns are negatives), and how often column i tops the keys' columns. */
export function mochiLoss(logits: tf.Tensor2D, keyColumns: number): { loss: tf.Scalar; accuracy: tf.Scalar } {
  return tf.tidy(() => {
    const b = logits.shape[0];
    const labels = tf.range(0, b, 1, 'int32') as tf.Tensor1D;
    const picked = tf.sum(tf.mul(logits, tf.oneHot(labels, logits.shape[1])), 1);
    const loss = tf.mean(tf.sub(tf.logSumExp(logits, 1), picked)) as tf.Scalar;
    const keysOnly = tf.slice(logits, [0, 0], [b, keyColumns]);
    const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(keysOnly, 1), labels), 'float32')) as tf.Scalar;
    return { loss, accuracy };
  });
}

export interface MochiValues {
  readonly auxQueue: number;
  readonly auxTemperature: number;
  readonly auxHardNegatives: number;
  readonly auxMixes: number;
  readonly auxQueryMixes: number;
}

export class MochiObjective implements AuxObjective {
  readonly name = 'mochi';
  readonly ownNames: readonly string[] = [];
  readonly optimizerKey = 'mochi';
  readonly metricPrefix = 'aux' as const;
  private readonly queue: KeyQueue;
  private readonly draws: ObjectiveDraws;

  constructor(latentDim: number, private readonly o: MochiValues, seed: number) {
    this.queue = new KeyQueue(o.auxQueue, latentDim, 'mochi');
    this.draws = new ObjectiveDraws(seed, 'mochi');
  }

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const b = inp.uA.shape[0];
    const zPos = latent(inp.uPosT!, inp.fixed, 'target.critic');
    const q = this.queue.tensor();
    const keys = q ? (tf.concat([zPos, q], 0) as tf.Tensor2D) : zPos;
    const m = keys.shape[0];
    // every key but the query's own; with no negative at all (one row, no queue) nothing is mixed
    const n = Math.min(this.o.auxHardNegatives, m - 1);
    const mixes = drawMixes(this.draws, b, n, n > 0 ? this.o.auxMixes : 0, n > 0 ? this.o.auxQueryMixes : 0);
    const { logits } = mochiLogits(latent(inp.uA, inp.params, 'critic'), keys, n, mixes, this.o.auxTemperature);
    const { loss, accuracy } = mochiLoss(logits, m);
    record('auxAccuracy', accuracy);
    return loss;
  }

  async afterStep(inp: AuxInputs): Promise<void> {
    await this.queue.pushKeys(inp);
  }

  queueSnapshot(): { keys: Float32Array; size: number; ptr: number } {
    return this.queue.snapshot();
  }

  async getState(): Promise<Record<string, TensorRecord>> {
    return { ...this.queue.getState(), ...this.draws.getState() };
  }

  checkState(state: Record<string, TensorRecord> | undefined): void {
    this.queue.checkState(state);
    this.draws.checkState(state);
  }

  setState(state: Record<string, TensorRecord> | undefined): void {
    this.checkState(state);
    this.queue.setState(state);
    this.draws.setState(state);
  }
}

export function create({ latentDim, options, rng }: AuxCreateContext<MochiValues>): MochiObjective {
  return new MochiObjective(latentDim, options, rng.nextSeed());
}

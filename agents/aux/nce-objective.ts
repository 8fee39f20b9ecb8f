// Noise-contrastive estimation as the agent runs it (see nce.ts): CURL's
// bilinear score without its row-max shift (the logistic loss is not
// invariant to it), a learned log-normaliser c, and k noise keys per row
// drawn from the objective's own seeded stream, whose state a checkpoint
// keeps beside the key queue.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/core/rng.js';
import type { RngState } from '../../src/core/rng.js';
import { uniform01 } from '../init.js';
import * as L from '../losses.js';
import { latent } from '../networks.js';
import { matMul } from '../ops.js';
import { variableFrom } from '../params.js';
import type { ParamMap } from '../params.js';
import type { TensorRecord } from '../tensor-record.js';
import { AgentError } from '../types.js';
import type { AuxCreateContext } from './descriptor.js';
import { KeyQueue } from './key-queue.js';
import type { AuxInputs, AuxObjective, MetricSink } from './objective.js';

/**
 * Gutmann & Hyvarinen's objective for scores s [N, M] (row i's data sample
 * is column i; `counts[i][j]` how many of its k noise samples are column j):
 * with G = s + c - log(k q), q the noise probability of a column (uniform:
 * the same for every column, so `logKq` is one number),
 *
 *   loss = mean_i [ -log sigma(G_ii) - sum_j counts_ij log(1 - sigma(G_ij)) ]
 *        = mean_i [ softplus(-G_ii) + sum_j counts_ij softplus(G_ij) ]
 *
 * (a noise sample drawn twice counts twice). Summing over the drawn columns
 * through counts, rather than gathering them, keeps the gradient off
 * UnsortedSegmentSum, which the wasm backend lacks.
 */
export function nceLoss(s: tf.Tensor2D, counts: tf.Tensor2D, c: tf.Tensor, logKq: number): tf.Scalar {
  return tf.tidy(() => {
    const n = s.shape[0];
    const g = tf.sub(tf.add(s, c), logKq);
    const diag = tf.oneHot(tf.range(0, n, 1, 'int32') as tf.Tensor1D, s.shape[1]);
    const pos = tf.softplus(tf.neg(tf.sum(tf.mul(g, diag), 1)));
    const noise = tf.sum(tf.mul(tf.softplus(g), counts), 1);
    return tf.mean(tf.add(pos, noise)) as tf.Scalar;
  });
}

/**
 * For each of n rows, k columns drawn uniformly with replacement from the
 * m - 1 columns other than the row's own, as counts [n, m].
 */
export function drawNoise(rng: Rng, n: number, m: number, k: number): Float32Array {
  const counts = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const r = rng.int(m - 1);
      counts[i * m + (r >= i ? r + 1 : r)]! += 1;
    }
  }
  return counts;
}

export interface NceOptions {
  readonly latentDim: number;
  readonly queue: number;
  readonly noiseSamples: number;
  readonly seed: number;
}

export class NceObjective implements AuxObjective {
  readonly name = 'nce';
  readonly ownNames = ['nce.W', 'nce.c'] as const;
  readonly optimizerKey = 'nce';
  readonly metricPrefix = 'aux' as const;
  private readonly queue: KeyQueue;
  private rng: Rng;

  constructor(private readonly o: NceOptions) {
    this.queue = new KeyQueue(o.queue, o.latentDim, 'nce');
    this.rng = new Rng(`nce:${o.seed}`);
  }

  /** W ~ U[0, 1) as CURL's, then c = 0. */
  static addParams(params: ParamMap, latentDim: number, rng: Rng): void {
    params.set('nce.W', variableFrom(tf.tensor2d(uniform01(latentDim * latentDim, rng), [latentDim, latentDim])));
    params.set('nce.c', variableFrom(tf.zeros([1])));
  }

  loss(inp: AuxInputs, record: MetricSink): tf.Scalar {
    const zPos = latent(inp.uPosT!, inp.fixed, 'target.critic');
    const zA = latent(inp.uA, inp.params, 'critic');
    const q = this.queue.tensor();
    const keys = q ? (tf.concat([zPos, q], 0) as tf.Tensor2D) : zPos;
    const [n, m] = [zA.shape[0], keys.shape[0]];
    if (m < 2) throw new AgentError(`aux 'nce' needs a noise key besides the positive: a batch of 2 or more, or a filled --aux-queue (batch ${n}, queue ${this.queue.filled})`);
    const s = matMul(zA, matMul(inp.params.get('nce.W') as tf.Tensor2D, tf.transpose(keys)));
    record('auxAccuracy', L.curlAccuracy(s));
    const k = this.o.noiseSamples;
    const counts = tf.tensor2d(drawNoise(this.rng, n, m, k), [n, m]);
    // q = 1 / (m - 1): uniform over the row's pool
    return nceLoss(s, counts, inp.params.get('nce.c')!, Math.log(k / (m - 1)));
  }

  async afterStep(inp: AuxInputs): Promise<void> {
    await this.queue.pushKeys(inp);
  }

  /** The queue as it stands (rows beyond `size` are zeros). */
  queueSnapshot(): { keys: Float32Array; size: number; ptr: number } {
    return this.queue.snapshot();
  }

  /** The queue (when K > 0) and the noise stream's position, [i, j, S_0..S_255] of its ARC4 state. */
  async getState(): Promise<Record<string, TensorRecord>> {
    const { prng } = this.rng.getState();
    return { ...this.queue.getState(), 'nce.rng': { shape: [258], data: Float32Array.from([prng.i, prng.j, ...prng.S]) } };
  }

  checkState(state: Record<string, TensorRecord> | undefined): void {
    this.queue.checkState(state);
    const rec = state?.['nce.rng'];
    if (!rec) throw new AgentError("setState: the state has no noise stream for aux 'nce' (nce.rng)");
    const problem = rec.data.length === 258 ? Rng.stateProblem({ prng: rngState(rec.data), spareNormal: null }) : `has ${rec.data.length} values, expected 258`;
    if (problem) throw new AgentError(`setState: the nce noise stream's state ${problem}`);
  }

  setState(state: Record<string, TensorRecord> | undefined): void {
    this.checkState(state);
    this.queue.setState(state);
    this.rng = Rng.fromState({ prng: rngState(state!['nce.rng']!.data), spareNormal: null });
  }
}

function rngState(data: Float32Array): RngState {
  return { i: data[0]!, j: data[1]!, S: Array.from(data.subarray(2)) };
}

export function create({ latentDim, options, params, rng }: AuxCreateContext<{ readonly auxQueue: number; readonly auxNoiseSamples: number }>): NceObjective {
  NceObjective.addParams(params, latentDim, rng);
  // the noise stream is seeded from the init stream, after the parameters
  return new NceObjective({ latentDim, queue: options.auxQueue, noiseSamples: options.auxNoiseSamples, seed: rng.nextSeed() });
}

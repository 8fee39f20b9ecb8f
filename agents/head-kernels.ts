/*
 * Where the agent's dense heads, Adam and the target EMA compute: on tfjs, or
 * on libtorch beside the conv engine (agents/native/head_kernels.h). At the
 * paper's sizes the twin Q networks' and the actor's [128, 1024] x [1024, 1024]
 * products and Adam over 8 M parameters, on one wasm thread, were the larger
 * part of a bf16 update. Both kernels compute the same fp32 math: the MLPs to
 * rounding (another summation order), Adam and the EMA bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { BUILD_HINT, loadConvAddon } from './native/addon.js';
import type { MlpTrace, NativeHeadKernels, PreparedDense } from './native/addon.js';
import { dataId, hostValues } from './host-memory.js';
import { mlpForward } from './networks.js';
import type { MlpParams } from './networks.js';

/** What a head's output is differentiated in: nothing (a forward pass only), its input, or its input and parameters. */
export type MlpGrad = 'none' | 'input' | 'all';

/** An MLP forward pass (ReLU between layers, none after the last). */
export type Mlp = (x: tf.Tensor2D, p: MlpParams) => tf.Tensor2D;

export type HeadEngineName = 'tfjs' | 'libtorch';

export interface HeadKernels {
  readonly engine: HeadEngineName;
  /** Threads the kernels run on (1 on tfjs' wasm). */
  readonly threads: number;
  /** The MLP pass differentiable as `grad` says (a gradient tape sees it as one op). */
  mlp(grad: MlpGrad): Mlp;
  /** The libtorch kernels for Adam and the EMA; null on tfjs, where they run as tfjs ops. */
  readonly native: NativeHeadKernels | null;
}

export class HeadKernelsError extends Error {
  constructor(message: string) {
    super(`agent: head kernels: ${message}`);
    this.name = 'HeadKernelsError';
  }
}

class TfjsHeadKernels implements HeadKernels {
  readonly engine = 'tfjs' as const;
  readonly threads = 1;
  readonly native = null;
  mlp(): Mlp {
    return mlpForward;
  }
}

class LibtorchHeadKernels implements HeadKernels {
  readonly engine = 'libtorch' as const;
  /**
   * Layers in the kernels' layout by the identity of their values: an update reads the same
   * Q network several times (target, critic loss, actor loss) between Adam steps, and each
   * conversion is a copy out of tfjs and a transpose of a 4 MB matrix.
   */
  private readonly prepared = new WeakMap<object, { b: object; layer: PreparedDense }>();

  constructor(readonly native: NativeHeadKernels) {}

  get threads(): number {
    return this.native.threads;
  }

  private layers(p: MlpParams): PreparedDense[] {
    return p.w.map((w, i) => {
      const b = p.b[i]!;
      const hit = this.prepared.get(dataId(w));
      if (hit && hit.b === dataId(b)) return hit.layer;
      const [inDim, outDim] = w.shape;
      if (b.size !== outDim) throw new HeadKernelsError(`layer ${i}'s bias has ${b.size} values, its weights [${w.shape}] need ${outDim}`);
      const layer = this.native.prepareDense(hostValues(w), hostValues(b), inDim, outDim);
      this.prepared.set(dataId(w), { b: dataId(b), layer });
      return layer;
    });
  }

  mlp(grad: MlpGrad): Mlp {
    return (x, p) => {
      const layers = this.layers(p);
      const rows = x.shape[0];
      const outDim = p.b[p.b.length - 1]!.size;
      if (grad === 'none') return tf.tensor2d(this.native.mlpForward(hostValues(x), rows, layers, false).out, [rows, outDim]);
      const withParams = grad === 'all';
      const pass = tf.customGrad((...args: unknown[]) => {
        const input = args[0] as tf.Tensor2D;
        const { out, trace } = this.native.mlpForward(hostValues(input), rows, layers, true);
        return {
          value: tf.tensor2d(out, [rows, outDim]),
          gradFunc: (dy: tf.Tensor) => {
            const g = this.native.mlpBackward(trace as MlpTrace, hostValues(dy), withParams);
            const dx = tf.tensor2d(g.dx, input.shape);
            if (!withParams) return [dx];
            return [dx, ...g.w!.map((w, i) => tf.tensor2d(w, p.w[i]!.shape)), ...g.b!.map((b) => tf.tensor1d(b))];
          },
        };
      }) as (...inputs: tf.Tensor[]) => tf.Tensor2D;
      return withParams ? pass(x, ...p.w, ...p.b) : pass(x);
    };
  }
}

export interface HeadKernelOptions {
  engine: HeadEngineName;
  /** libtorch's intra-op threads (tfjs runs on one). */
  threads: number;
}

export function createHeadKernels(options: HeadKernelOptions): HeadKernels {
  if (options.engine === 'tfjs') return new TfjsHeadKernels();
  const addon = loadConvAddon();
  if (!addon.available) throw new HeadKernelsError(`${addon.reason}. ${BUILD_HINT}`);
  return new LibtorchHeadKernels(new addon.binding.HeadKernels({ threads: options.threads }));
}

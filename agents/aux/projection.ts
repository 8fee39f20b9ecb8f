// The two-layer projection MLPs of the two-view objectives (`prefix.w0,b0,w1,b1`:
// [n, h] ReLU [h, m]), used by their losses only, never by the actor or critic.
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/core/rng.js';
import { orthogonalFast } from '../init.js';
import { mlpForward } from '../networks.js';
import { mlpNames, mlpParams, variableFrom } from '../params.js';
import type { ParamMap } from '../params.js';

/** Adds the MLP initialised as the agent's MLPs (orthogonal, zero bias), drawing from `rng` layer by layer. */
export function addMlp2(params: ParamMap, prefix: string, n: number, h: number, m: number, rng: Rng): void {
  for (const [i, a, b] of [[0, n, h], [1, h, m]] as const) {
    params.set(`${prefix}.w${i}`, variableFrom(tf.tensor2d(orthogonalFast(a, b, rng), [a, b])));
    params.set(`${prefix}.b${i}`, variableFrom(tf.zeros([b])));
  }
}

export function mlp2Names(prefix: string): string[] {
  return mlpNames(prefix, 2);
}

export function mlp2(x: tf.Tensor2D, params: ReadonlyMap<string, tf.Tensor>, prefix: string): tf.Tensor2D {
  return mlpForward(x, mlpParams(params, prefix, 2));
}

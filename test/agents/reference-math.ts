// Plain-JS float64 building blocks of the aux losses' reference loops (the tests compare tfjs against them).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/core/rng.js';

export type M = number[][];
export const randM = (rng: Rng, r: number, c: number, s = 1): M => Array.from({ length: r }, () => Array.from({ length: c }, () => rng.normal() * s));
export const t2 = (m: M): tf.Tensor2D => tf.tensor2d(m);
/** The value of a one-element tensor, which it disposes. */
export const scalar = (t: tf.Tensor): number => {
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
};
export const dot = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
/** a / |a|, with the norm floored at 1e-12 as embedding.ts's l2Normalize does. */
export const unit = (a: number[]): number[] => {
  const n = Math.max(Math.sqrt(dot(a, a)), 1e-12);
  return a.map((x) => x / n);
};

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as L from '../../agents/losses.js';
import { useBackend } from './helpers.js';

beforeAll(async () => useBackend('wasm'));

const arr = (t: tf.Tensor) => Array.from(t.dataSync());

describe('CURL contrastive loss', () => {
  it('matches a hand-computed 2x2 example', () => {
    // zA = [[1,0],[0,1]], W = [[1,2],[0,1]], zPos = [[1,1],[2,0]]
    // W zPos^T = [[3,2],[1,0]]; logits = zA W zPos^T = [[3,2],[1,0]]; minus row max -> [[0,-1],[0,-1]]
    const zA = tf.tensor2d([[1, 0], [0, 1]]);
    const w = tf.tensor2d([[1, 2], [0, 1]]);
    const zPos = tf.tensor2d([[1, 1], [2, 0]]);
    const logits = L.curlLogits(zA, w, zPos);
    expect(arr(logits)).toEqual([0, -1, 0, -1]);
    // row 0 label 0: log(1 + e^-1) - 0; row 1 label 1: log(1 + e^-1) + 1
    const lse = Math.log(1 + Math.exp(-1));
    expect(L.curlLoss(logits).dataSync()[0]).toBeCloseTo((lse + (lse + 1)) / 2, 5);
    expect(L.curlAccuracy(logits).dataSync()[0]).toBe(0.5); // row 0 right, row 1 wrong
    tf.dispose([zA, w, zPos, logits]);
  });

  it('chunked queries against all keys sum to the full-batch loss', () => {
    const zA = tf.tensor2d([[0.3, -1], [2, 0.5], [-0.7, 0.1]]);
    const w = tf.tensor2d([[1, 0.2], [-0.4, 0.9]]);
    const zPos = tf.tensor2d([[0.1, -0.9], [1.8, 0.4], [-0.5, 0.3]]);
    const full = L.curlLoss(L.curlLogits(zA, w, zPos)).dataSync()[0]!;
    const top = L.curlLoss(L.curlLogits(zA.slice([0, 0], [2, 2]), w, zPos), 0, 3).dataSync()[0]!;
    const bottom = L.curlLoss(L.curlLogits(zA.slice([2, 0], [1, 2]), w, zPos), 2, 3).dataSync()[0]!;
    expect(top + bottom).toBeCloseTo(full, 5);
  });
});

describe('SAC losses', () => {
  it('critic target = r + notDone * gamma * (min Q - alpha logpi)', () => {
    const y = L.criticTarget(
      tf.tensor2d([[1], [0.5]]), tf.tensor2d([[1], [0]]), tf.tensor2d([[2], [3]]), tf.tensor2d([[4], [1]]),
      tf.tensor2d([[-1], [2]]), 0.2, 0.9,
    );
    // row 0: 1 + 0.9 * (2 - 0.2 * -1) = 2.98; row 1: terminal -> 0.5
    expect(arr(y)[0]).toBeCloseTo(2.98, 5);
    expect(arr(y)[1]).toBeCloseTo(0.5, 6);
  });

  it('critic loss is the sum of the two MSEs', () => {
    const v = L.criticLoss(tf.tensor2d([[1], [2]]), tf.tensor2d([[0], [0]]), tf.tensor2d([[2], [2]]));
    // MSE1 = (1 + 0)/2 = 0.5; MSE2 = (4 + 4)/2 = 4
    expect(v.dataSync()[0]).toBeCloseTo(4.5, 6);
  });

  it('actor loss = mean(alpha logpi - min(Q1, Q2))', () => {
    const v = L.actorLoss(tf.tensor2d([[-1], [3]]), tf.tensor2d([[1], [5]]), tf.tensor2d([[2], [4]]), 0.5);
    // (-0.5 - 1 + 1.5 - 4) / 2 = -2
    expect(v.dataSync()[0]).toBeCloseTo(-2, 6);
  });

  it('alpha loss = mean(alpha (-logpi - target entropy)) and its gradient in log alpha', () => {
    const logAlpha = tf.scalar(Math.log(0.1));
    const logPi = tf.tensor2d([[-1], [3]]);
    // target entropy -2: (-(-1) + 2) = 3, (-3 + 2) = -1 -> mean 1 -> 0.1
    expect(L.alphaLoss(logAlpha, logPi, -2).dataSync()[0]).toBeCloseTo(0.1, 6);
    const g = tf.grad((la: tf.Tensor) => L.alphaLoss(la, logPi, -2))(logAlpha);
    expect(g.dataSync()[0]).toBeCloseTo(0.1, 6); // d/dla e^la * 1
  });

  it('tanh-Gaussian log-prob matches a direct computation', () => {
    const mu = [0.3, -1.2, 0.05, 0.9];
    const raw = [0.1, -0.5, 1.5, -2];
    const eps = [0.7, -0.2, 1.1, -1.4];
    const [lo, hi] = [-10, 2];
    const pol = L.tanhGaussian(tf.tensor2d(mu, [2, 2]), tf.tensor2d(raw, [2, 2]), tf.tensor2d(eps, [2, 2]), lo, hi);
    const logPi = arr(pol.logPi);
    const action = arr(pol.action);
    for (let r = 0; r < 2; r++) {
      let lp = 0;
      for (let j = 0; j < 2; j++) {
        const i = r * 2 + j;
        const logStd = lo + 0.5 * (hi - lo) * (Math.tanh(raw[i]!) + 1);
        const std = Math.exp(logStd);
        const u = mu[i]! + eps[i]! * std;
        // density of u under N(mu, std), then change of variables a = tanh(u)
        lp += -0.5 * ((u - mu[i]!) / std) ** 2 - logStd - 0.5 * Math.log(2 * Math.PI);
        lp -= Math.log(1 - Math.tanh(u) ** 2 + 1e-6);
        expect(action[i]).toBeCloseTo(Math.tanh(u), 5);
        expect(arr(pol.logStd)[i]).toBeCloseTo(logStd, 5);
      }
      expect(logPi[r]).toBeCloseTo(lp, 3);
    }
    expect(arr(pol.mean)[1]).toBeCloseTo(Math.tanh(-1.2), 6);
    // entropy of the pre-squash Gaussian: sum(logStd) + A (1 + log 2 pi) / 2
    const ent = arr(L.gaussianEntropy(pol.logStd));
    const ls = arr(pol.logStd);
    expect(ent[0]).toBeCloseTo(ls[0]! + ls[1]! + (1 + Math.log(2 * Math.PI)), 4);
  });
});

import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { conv2dFilterGrad, conv2dInputGrad, dense, denseRelu, matMul } from '../../agents/ops.js';
import { convBackward, convForward, headForward } from '../../agents/networks.js';
import type { ConvParams, HeadParams } from '../../agents/networks.js';
import { deltaOrthogonal, orthogonal, orthogonalFast } from '../../agents/init.js';
import { Rng } from '../../src/core/rng.js';
import { useBackend } from './helpers.js';

afterAll(async () => useBackend('wasm'));

function randn(rng: Rng, n: number, scale = 1): Float32Array {
  return new Float32Array(n).map(() => rng.normal() * scale);
}
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('conv gradients as forward convs (wasm) vs cpu autodiff', () => {
  for (const stride of [1, 2]) {
    it(`stride ${stride}, odd and even input sizes`, async () => {
      for (const size of [9, 10]) {
        const rng = new Rng(stride * 100 + size);
        const xShape = [2, size, size, 3] as [number, number, number, number];
        const wShape = [3, 3, 3, 4] as [number, number, number, number];
        const x = randn(rng, 2 * size * size * 3);
        const w = randn(rng, 3 * 3 * 3 * 4);
        const out = Math.floor((size - 3) / stride) + 1;
        const dy = randn(rng, 2 * out * out * 4);
        await useBackend('cpu');
        const [refDx, refDw] = tf.tidy(() => {
          const f = (xx: tf.Tensor, ww: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, stride, 'valid');
          const g = tf.grads(f)([tf.tensor4d(x, xShape), tf.tensor4d(w, wShape)], tf.tensor4d(dy, [2, out, out, 4]));
          return g.map((t) => t.dataSync().slice());
        });
        await useBackend('wasm');
        const mine = tf.tidy(() => {
          const dyT = tf.tensor4d(dy, [2, out, out, 4]);
          return [
            conv2dInputGrad(dyT, tf.tensor4d(w, wShape), stride, size, size).dataSync().slice(),
            conv2dFilterGrad(tf.tensor4d(x, xShape), dyT, stride, 3, 3).dataSync().slice(),
          ];
        });
        expect(mine[0]!.length).toBe(refDx!.length);
        expect(maxAbsDiff(mine[0]!, refDx!)).toBeLessThan(1e-4);
        expect(maxAbsDiff(mine[1]!, refDw!)).toBeLessThan(1e-4);
      }
    });
  }
});

describe('dense ops with explicit-transpose gradients', () => {
  it('match autodiff of the plain ops', async () => {
    await useBackend('wasm');
    const rng = new Rng(3);
    const x = tf.tensor2d(randn(rng, 12), [3, 4]);
    const w = tf.tensor2d(randn(rng, 20), [4, 5]);
    const b = tf.tensor1d(randn(rng, 5));
    const r = tf.tensor2d(randn(rng, 15), [3, 5]);
    const pairs: Array<[(a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.Tensor, (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.Tensor]> = [
      [(a, c, d) => dense(a as tf.Tensor2D, c as tf.Tensor2D, d as tf.Tensor1D), (a, c, d) => tf.add(tf.matMul(a as tf.Tensor2D, c as tf.Tensor2D), d)],
      [(a, c, d) => denseRelu(a as tf.Tensor2D, c as tf.Tensor2D, d as tf.Tensor1D), (a, c, d) => tf.relu(tf.add(tf.matMul(a as tf.Tensor2D, c as tf.Tensor2D), d))],
      [(a, c) => matMul(a as tf.Tensor2D, c as tf.Tensor2D), (a, c) => tf.matMul(a as tf.Tensor2D, c as tf.Tensor2D)],
    ];
    for (const [mine, ref] of pairs) {
      const g1 = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(tf.add(mine(a, c, d), tf.mul(d, 0).sum()), r)))([x, w, b]);
      const g2 = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(tf.add(ref(a, c, d), tf.mul(d, 0).sum()), r)))([x, w, b]);
      for (let i = 0; i < 3; i++) expect(maxAbsDiff(g1[i]!.dataSync(), g2[i]!.dataSync())).toBeLessThan(1e-5);
      tf.dispose([...g1, ...g2]);
    }
    tf.dispose([x, w, b, r]);
  });
});

describe('encoder gradient', () => {
  it('manual conv backward + autodiff head agree with central finite differences', async () => {
    await useBackend('wasm');
    const rng = new Rng(11);
    const size = 11;
    const cin = 3;
    const nf = 4;
    const latent = 5;
    // random (not delta-orthogonal) filters so every tap matters; biases keep most ReLUs active
    const conv: ConvParams = {
      w: [tf.tensor4d(randn(rng, 9 * cin * nf, 0.5), [3, 3, cin, nf]), tf.tensor4d(randn(rng, 9 * nf * nf, 0.3), [3, 3, nf, nf])],
      b: [tf.tensor1d(new Float32Array(nf).fill(0.1)), tf.tensor1d(new Float32Array(nf).fill(0.1))],
    };
    const side = Math.floor((size - 3) / 2) + 1 - 2; // 3
    const f = side * side * nf;
    const head: HeadParams = {
      fcW: tf.tensor2d(randn(rng, f * latent, 0.3), [f, latent]), fcB: tf.zeros([latent]),
      lnG: tf.tensor1d(randn(rng, latent, 1)), lnB: tf.tensor1d(randn(rng, latent, 0.1)),
    };
    const x = tf.tensor4d(new Float32Array(2 * size * size * cin).map(() => rng.int(256)), [2, size, size, cin]);
    const r = tf.tensor2d(randn(rng, 2 * latent), [2, latent]);
    const loss = (p: ConvParams) => tf.tidy(() => tf.sum(tf.mul(headForward(convForward(x, p, false).h, head), r)).dataSync()[0]!);

    const { h, acts } = convForward(x, conv, true);
    const dh = tf.grad((hh: tf.Tensor) => tf.sum(tf.mul(headForward(hh as tf.Tensor2D, head), r)))(h) as tf.Tensor2D;
    const grads = convBackward(x, acts, conv, dh);
    for (const layer of [0, 1]) {
      const analytic = grads.w[layer]!.dataSync();
      const w0 = conv.w[layer]!.dataSync();
      const eps = 1e-2;
      const idx = [0, 7, 19, analytic.length - 1];
      for (const i of idx) {
        const bump = (d: number) => {
          const v = w0.slice();
          v[i]! += d;
          const wl = tf.tensor4d(v, conv.w[layer]!.shape);
          const p: ConvParams = { w: conv.w.map((t, l) => (l === layer ? wl : t)), b: conv.b };
          const out = loss(p);
          wl.dispose();
          return out;
        };
        const numeric = (bump(eps) - bump(-eps)) / (2 * eps);
        expect(Math.abs(numeric - analytic[i]!)).toBeLessThan(2e-2 * Math.max(1, Math.abs(numeric)));
      }
      const gb = grads.b[layer]!.dataSync();
      const b0 = conv.b[layer]!.dataSync();
      const bump = (d: number) => {
        const v = b0.slice();
        v[1]! += d;
        const bl = tf.tensor1d(v);
        const out = loss({ w: conv.w, b: conv.b.map((t, l) => (l === layer ? bl : t)) });
        bl.dispose();
        return out;
      };
      const numeric = (bump(1e-2) - bump(-1e-2)) / 2e-2;
      expect(Math.abs(numeric - gb[1]!)).toBeLessThan(2e-2 * Math.max(1, Math.abs(numeric)));
    }
  });
});

describe('initialisation', () => {
  it('orthogonal matrices have orthonormal columns (tall) or rows (wide)', () => {
    const rng = new Rng(5);
    for (const [rows, cols] of [[12, 5], [5, 12]] as const) {
      const m = orthogonal(rows, cols, rng, 2);
      const k = Math.min(rows, cols);
      for (let a = 0; a < k; a++) {
        for (let b = 0; b < k; b++) {
          let dot = 0;
          for (let i = 0; i < Math.max(rows, cols); i++) {
            dot += rows >= cols ? m[i * cols + a]! * m[i * cols + b]! : m[a * cols + i]! * m[b * cols + i]!;
          }
          expect(dot).toBeCloseTo(a === b ? 4 : 0, 4);
        }
      }
    }
  });

  it('the device-assisted orthogonal init of large matrices matches the host one', async () => {
    await useBackend('wasm');
    const n = 400; // n^3 above the host limit, so the blocked CGS2 path runs
    const fast = orthogonalFast(n, n, new Rng(8));
    const host = orthogonal(n, n, new Rng(8));
    expect(maxAbsDiff(fast, host)).toBeLessThan(1e-4);
    for (const [a, b] of [[0, 0], [0, 399], [63, 64], [200, 200], [130, 7]] as const) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += fast[i * n + a]! * fast[i * n + b]!;
      expect(dot).toBeCloseTo(a === b ? 1 : 0, 4);
    }
  });

  it('delta-orthogonal filters are zero except the centre tap', () => {
    const w = deltaOrthogonal(3, 3, 4, 6, new Rng(1));
    for (let kh = 0; kh < 3; kh++) {
      for (let kw = 0; kw < 3; kw++) {
        const tap = w.slice((kh * 3 + kw) * 24, (kh * 3 + kw + 1) * 24);
        const energy = tap.reduce((a, v) => a + v * v, 0);
        if (kh === 1 && kw === 1) expect(energy).toBeCloseTo(2 * 4, 4); // 4 orthonormal rows x gain^2 (relu: 2)
        else expect(energy).toBe(0);
      }
    }
  });
});

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Adam, SUBNORMAL_FLUSH_EVERY } from '../../agents/adam.js';
import { useBackend } from './helpers.js';

beforeAll(async () => useBackend('wasm'));

/**
 * torch.optim.Adam (amsgrad=False, weight_decay=0), written out in float64:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * eps is added AFTER the bias correction of sqrt(v) (not to v, not before it).
 */
function torchAdam(p0: number[], grads: number[][], lr: number, b1: number, b2: number, eps: number): number[][] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const out: number[][] = [];
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! ** 2;
      p[i] = p[i]! - (lr / (1 - b1 ** t)) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(1 - b2 ** t) + eps));
    }
    out.push([...p]);
  });
  return out;
}

describe('Adam', () => {
  it("follows PyTorch's formula step by step: bias correction and where eps goes", async () => {
    // gradients spanning 1e-9..1: at 1e-9 eps dominates the denominator, so
    // eps placement shows; steps 1-5 are where bias correction matters most
    const p0 = [0.5, -1.25, 2, 0.125, -0.3, 1];
    const grads = [
      [1, -0.5, 1e-9, -2e-9, 0.03, 1e-7],
      [0.8, 0.5, 3e-9, -1e-9, -0.02, -1e-7],
      [-0.2, -0.25, 1e-9, 4e-9, 0.01, 2e-7],
      [0.4, 1, -2e-9, -1e-9, 0.05, 1e-7],
      [0.1, -0.75, 1e-9, 3e-9, -0.04, -3e-7],
      [0.6, 0.5, 2e-9, -2e-9, 0.02, 1e-7],
    ];
    const options = { lr: 1e-3, beta1: 0.5, beta2: 0.99, eps: 1e-8 };
    const params = new Map([['p', tf.variable(tf.tensor1d(p0), true, 'adam-test-p')]]);
    const adam = new Adam(params, ['p'], options);
    const want = torchAdam(p0, grads, options.lr, options.beta1, options.beta2!, options.eps!);
    for (const [k, g] of grads.entries()) {
      const gt = tf.tensor1d(g);
      adam.step(new Map([['p', gt]]));
      gt.dispose();
      const got = await params.get('p')!.data();
      // each parameter's total move against the formula's, to 1e-4 of the move plus float32 rounding of p
      for (let i = 0; i < p0.length; i++) {
        expect(Math.abs(got[i]! - want[k]![i]!), `step ${k + 1}, p${i}`).toBeLessThan(1e-4 * Math.abs(want[k]![i]! - p0[i]!) + 1e-6);
      }
    }
    expect(adam.t).toBe(grads.length);
    // the two mistakes this pins down move the tiny-gradient parameters visibly:
    const noBiasCorrection = torchAdamNoBias(p0, grads, options);
    const epsInsideSqrt = torchAdamEpsVariant(p0, grads, options);
    const final = await params.get('p')!.data();
    expect(Math.abs(final[0]! - noBiasCorrection[0]!)).toBeGreaterThan(1e-3);
    expect(Math.abs(final[2]! - epsInsideSqrt[2]!)).toBeGreaterThan(1e-4);

    // the state round-trips: a fresh optimiser continues exactly
    const state = await adam.getState();
    const params2 = new Map([['p', tf.variable(tf.tensor1d(Array.from(final)), true, 'adam-test-p2')]]);
    const resumed = new Adam(params2, ['p'], options);
    resumed.setState(state, 'test');
    const g = tf.tensor1d([0.3, -0.1, 1e-9, 2e-9, -0.01, 1e-7]);
    adam.step(new Map([['p', g]]));
    resumed.step(new Map([['p', g]]));
    expect(await params2.get('p')!.data()).toEqual(await params.get('p')!.data());
    g.dispose();
    adam.dispose();
    resumed.dispose();
    params.get('p')!.dispose();
    params2.get('p')!.dispose();
  });

  it('stores a moment that decays below FLT_MIN as +0 on every SUBNORMAL_FLUSH_EVERY-th step, leaving its parameter where torch leaves it', async () => {
    // a dead unit (zero gradient): m 1.1 MIN decays to 0.99 MIN, a subnormal torch would keep (and x86 slow on)
    const MIN = 2 ** -126;
    const p0 = [0.5, -0.25, 0.125];
    const params = new Map([['p', tf.variable(tf.tensor1d(p0), true, 'adam-test-flush')]]);
    const adam = new Adam(params, ['p'], { lr: 1e-3, beta1: 0.9, beta2: 0.999 });
    adam.setState({ t: 3 * SUBNORMAL_FLUSH_EVERY - 1, m: { p: Float32Array.from([1.1 * MIN, -1.1 * MIN, 2 * MIN]) }, v: { p: Float32Array.from([1e-10, 1.0005 * MIN, 1e-10]) } }, 'test');
    const g = tf.zeros([3]);
    adam.step(new Map([['p', g]]));
    const { m, v } = await adam.getState();
    expect([Object.is(m.p![0], 0), Object.is(m.p![1], 0), Object.is(v.p![1], 0)]).toEqual([true, true, true]);
    expect(m.p![2]).toBe(Math.fround(Math.fround(2 * MIN) * Math.fround(0.9))); // 1.8 MIN stays
    expect(v.p![0]).toBe(Math.fround(Math.fround(1e-10) * Math.fround(0.999)));
    expect(Array.from(await params.get('p')!.data())).toEqual(p0.map(Math.fround));
    // the steps between keep a subnormal, as torch does
    adam.setState({ t: 3 * SUBNORMAL_FLUSH_EVERY, m: { p: Float32Array.from([1.1 * MIN, 0, 0]) }, v: { p: Float32Array.from([1e-10, 1e-10, 1e-10]) } }, 'test');
    adam.step(new Map([['p', g]]));
    expect((await adam.getState()).m.p![0]).toBe(Math.fround(Math.fround(1.1 * MIN) * Math.fround(0.9)));
    g.dispose();
    adam.dispose();
    params.get('p')!.dispose();
  });

  it('the first step moves every parameter by lr against the gradient sign, whatever its size', async () => {
    const params = new Map([['p', tf.variable(tf.zeros([3]), true, 'adam-test-q')]]);
    const adam = new Adam(params, ['p'], { lr: 0.01, beta1: 0.9 });
    const g = tf.tensor1d([5, -1e-3, 1e-5]);
    adam.step(new Map([['p', g]]));
    // m_hat = g, sqrt(v_hat) = |g|: lr * g / (|g| + 1e-8)
    const got = await params.get('p')!.data();
    [5, -1e-3, 1e-5].forEach((gi, i) => expect(got[i]).toBeCloseTo((-0.01 * gi) / (Math.abs(gi) + 1e-8), 7));
    g.dispose();
    adam.dispose();
    params.get('p')!.dispose();
  });
});

/** The same loop without bias correction (what a plain EMA-of-moments Adam would do). */
function torchAdamNoBias(p0: number[], grads: number[][], o: { lr: number; beta1: number; beta2?: number; eps?: number }): number[] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  for (const g of grads) {
    for (let i = 0; i < p.length; i++) {
      m[i] = o.beta1 * m[i]! + (1 - o.beta1) * g[i]!;
      v[i] = o.beta2! * v[i]! + (1 - o.beta2!) * g[i]! ** 2;
      p[i] = p[i]! - o.lr * (m[i]! / (Math.sqrt(v[i]!) + o.eps!));
    }
  }
  return p;
}

/** The same loop with eps added to sqrt(v) before its bias correction (TensorFlow's epsilon-hat placement). */
function torchAdamEpsVariant(p0: number[], grads: number[][], o: { lr: number; beta1: number; beta2?: number; eps?: number }): number[] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      m[i] = o.beta1 * m[i]! + (1 - o.beta1) * g[i]!;
      v[i] = o.beta2! * v[i]! + (1 - o.beta2!) * g[i]! ** 2;
      const lrT = (o.lr * Math.sqrt(1 - o.beta2! ** t)) / (1 - o.beta1 ** t);
      p[i] = p[i]! - lrT * (m[i]! / (Math.sqrt(v[i]!) + o.eps!));
    }
  });
  return p;
}

/*
 * Every aux loss against numbers computed here by explicit loops in float64
 * (no tfjs, no code shared with agents/aux), on tiny shapes.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { barlowLambdaEff } from '../../agents/aux/barlow-objective.js';
import { BARLOW_BN_EPS, barlowLoss } from '../../agents/aux/barlow-objective.js';
import { byolLoss } from '../../agents/aux/byol-objective.js';
import { CurlObjective, debiasedInfoNce } from '../../agents/aux/curl-objective.js';
import { alignmentUniformity } from '../../agents/aux/embedding.js';
import { ntXent } from '../../agents/aux/simclr-objective.js';
import { curlLoss } from '../../agents/losses.js';
import { Rng } from '../../src/core/rng.js';
import { useBackend } from './helpers.js';
import { dot, randM, scalar, t2, unit, type M } from './reference-math.js';

const sub = (a: number[], b: number[]) => a.map((x, i) => x - b[i]!);

/** Chuang/Robinson negative term and loss, one row at a time. */
function loopDebiased(s: M, tauPlus: number, beta: number): number {
  let total = 0;
  for (let i = 0; i < s.length; i++) {
    const row = s[i]!;
    const nn = row.length - 1;
    const pos = Math.exp(row[i]!);
    let wsum = 0;
    let wneg = 0;
    let minNeg = Infinity;
    for (let j = 0; j < row.length; j++) {
      if (j === i) continue;
      wsum += Math.exp(beta * row[j]!);
      minNeg = Math.min(minNeg, Math.exp(row[j]!));
    }
    for (let j = 0; j < row.length; j++) {
      if (j === i) continue;
      const w = (nn * Math.exp(beta * row[j]!)) / wsum;
      wneg += w * Math.exp(row[j]!);
    }
    const ng = Math.max((wneg - tauPlus * nn * pos) / (1 - tauPlus), nn * minNeg);
    total += -Math.log(pos / (pos + ng));
  }
  return total / s.length;
}

/**
 * The same loss in float64 with every exponent shifted (by the row max, and the weights by the row's
 * largest negative): algebraically the loop above, but finite for margins of several hundred, where
 * the loop's exp(beta s) underflows to 0 / 0 even in float64.
 */
function stableDebiased(s: M, tauPlus: number, beta: number): number {
  let total = 0;
  for (let i = 0; i < s.length; i++) {
    const row = s[i]!;
    const nn = row.length - 1;
    const negs = row.filter((_, j) => j !== i);
    const c = Math.max(...row);
    const top = Math.max(...negs);
    const pos = Math.exp(row[i]! - c);
    let wsum = 0;
    let wneg = 0;
    for (const x of negs) {
      const e = beta > 0 ? Math.exp(beta * (x - top)) : 1;
      wsum += e;
      wneg += e * Math.exp(x - c);
    }
    const weighted = (nn * wneg) / wsum;
    const ng = Math.max((weighted - tauPlus * nn * pos) / (1 - tauPlus), nn * Math.exp(Math.min(...negs) - c));
    total += Math.log(pos + ng) + c - row[i]!;
  }
  return total / s.length;
}

function loopCrossEntropy(s: M): number {
  let total = 0;
  for (let i = 0; i < s.length; i++) {
    const row = s[i]!;
    total += Math.log(row.reduce((a, x) => a + Math.exp(x), 0)) - row[i]!;
  }
  return total / s.length;
}

function loopNtXent(h1: M, h2: M, temp: number): number {
  const n = h1.length;
  const h = [...h1, ...h2].map(unit);
  let total = 0;
  for (let k = 0; k < 2 * n; k++) {
    const p = k < n ? k + n : k - n;
    let denom = 0;
    for (let l = 0; l < 2 * n; l++) if (l !== k) denom += Math.exp(dot(h[k]!, h[l]!) / temp);
    total += -Math.log(Math.exp(dot(h[k]!, h[p]!) / temp) / denom);
  }
  return total / (2 * n);
}

function loopBarlow(a: M, b: M, lambdaEff: number): { loss: number; on: number; off: number } {
  const n = a.length;
  const d = a[0]!.length;
  const bn = (x: M): M => {
    const out = x.map((r) => [...r]);
    for (let j = 0; j < d; j++) {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += x[i]![j]! / n;
      let v = 0;
      for (let i = 0; i < n; i++) v += (x[i]![j]! - mean) ** 2 / n; // biased, as BatchNorm1d in training
      for (let i = 0; i < n; i++) out[i]![j] = (x[i]![j]! - mean) / Math.sqrt(v + BARLOW_BN_EPS);
    }
    return out;
  };
  const an = bn(a);
  const bnn = bn(b);
  let on = 0;
  let off = 0;
  for (let p = 0; p < d; p++) {
    for (let q = 0; q < d; q++) {
      let c = 0;
      for (let i = 0; i < n; i++) c += (an[i]![p]! * bnn[i]![q]!) / n;
      if (p === q) on += (1 - c) ** 2;
      else off += c * c;
    }
  }
  return { loss: on + lambdaEff * off, on, off };
}

function loopByol(p1: M, p2: M, t1: M, t2: M): number {
  let total = 0;
  for (let i = 0; i < p1.length; i++) {
    total += 2 - 2 * dot(unit(p1[i]!), unit(t2[i]!));
    total += 2 - 2 * dot(unit(p2[i]!), unit(t1[i]!));
  }
  return total / p1.length;
}

beforeAll(async () => useBackend('cpu'));

describe('curl-debiased / curl-hard negative term', () => {
  const rng = new Rng(3);
  const s = randM(rng, 4, 7); // 4 queries, 4 in-batch keys + 3 queue keys
  for (const [tauPlus, beta] of [[0.1, 0], [0.3, 0], [0, 1], [0, 2.5], [0.1, 1]] as const) {
    it(`tau+ ${tauPlus}, beta ${beta}: matches the loop`, () => {
      expect(scalar(debiasedInfoNce(t2(s), { tauPlus, beta }))).toBeCloseTo(loopDebiased(s, tauPlus, beta), 5);
    });
  }
  it('is invariant to a per-row shift of the logits (the agent subtracts the row max)', () => {
    const shifted = s.map((r, i) => r.map((x) => x - 3 * i));
    expect(scalar(debiasedInfoNce(t2(shifted), { tauPlus: 0.2, beta: 1.5 }))).toBeCloseTo(loopDebiased(s, 0.2, 1.5), 5);
  });
  it('tau+ = beta = 0 is the plain cross-entropy (CURL)', () => {
    expect(scalar(debiasedInfoNce(t2(s), { tauPlus: 0, beta: 0 }))).toBeCloseTo(loopCrossEntropy(s), 5);
    expect(scalar(curlLoss(t2(s)))).toBeCloseTo(loopCrossEntropy(s), 5);
  });
  it('the floor Nn * min negative binds when the positive dominates and tau+ is large', () => {
    const easy: M = [[5, 0, -1], [0.2, 6, 0], [-2, 1, 4]];
    const v = loopDebiased(easy, 0.9, 0);
    // by hand for row 0: raw = (e^0 + e^-1 - 0.9*2*e^5)/0.1 < 0, so Ng = 2 e^-1
    const row0 = -Math.log(Math.exp(5) / (Math.exp(5) + 2 * Math.exp(-1)));
    expect(loopDebiased([easy[0]!], 0.9, 0)).toBeCloseTo(row0, 10);
    expect(scalar(debiasedInfoNce(t2(easy), { tauPlus: 0.9, beta: 0 }))).toBeCloseTo(v, 5);
  });
});

describe('curl-debiased / curl-hard at large margins (bilinear logits are unbounded)', () => {
  // Logits on a 1/1024 grid, so that float32 holds them and a shift by 1024 exactly.
  const grid = (x: number) => Math.round(x * 1024) / 1024;
  /** 4 queries x 6 keys: random negatives, each positive `margin` above its row's largest negative (below its smallest when negative). */
  const withMargin = (margin: number, seed = 21): M => {
    const rng = new Rng(seed);
    return randM(rng, 4, 6).map((row, i) => {
      const negs = row.filter((_, j) => j !== i);
      const r = row.map(grid);
      r[i] = grid(margin >= 0 ? Math.max(...negs) + margin : Math.min(...negs) + margin);
      return r;
    });
  };
  const near = (got: number, want: number, rel: number, abs: number) =>
    expect(Math.abs(got - want), `got ${got}, float64 ${want}`).toBeLessThanOrEqual(abs + rel * Math.abs(want));
  const grad = (s: M, o: { tauPlus: number; beta: number }): M =>
    tf.tidy(() => tf.grad((x: tf.Tensor) => debiasedInfoNce(x as tf.Tensor2D, o))(t2(s)).arraySync() as M);
  /** Central differences of the float64 loss; the step is small because beta sharpens the weights (third derivative ~ beta^2). */
  const fdGrad = (s: M, o: { tauPlus: number; beta: number }): M =>
    s.map((row, i) => row.map((_, j) => {
      const eps = 1e-6;
      const plus = s.map((r) => [...r]);
      const minus = s.map((r) => [...r]);
      plus[i]![j]! += eps;
      minus[i]![j]! -= eps;
      return (stableDebiased(plus, o.tauPlus, o.beta) - stableDebiased(minus, o.tauPlus, o.beta)) / (2 * eps);
    }));

  it('the float64 reference is the loop where the loop is finite', () => {
    for (const [tauPlus, beta] of [[0, 1], [0.1, 2.5], [0.3, 0]] as const) {
      expect(stableDebiased(withMargin(1.5), tauPlus, beta)).toBeCloseTo(loopDebiased(withMargin(1.5), tauPlus, beta), 10);
    }
  });

  // beta x margin passes 53 (the old gradient's 0/0) and 104 (the old loss's) in most of these
  for (const margin of [-300, -20, 0.5, 2, 10, 60, 300]) {
    for (const [tauPlus, beta] of [[0, 1], [0, 60], [0, 100], [0.1, 60], [0.1, 0], [0.9, 0]] as const) {
      it(`margin ${margin}, tau+ ${tauPlus}, beta ${beta}: value and gradient equal the float64 reference`, () => {
        const s = withMargin(margin);
        const o = { tauPlus, beta };
        near(scalar(debiasedInfoNce(t2(s), o)), stableDebiased(s, tauPlus, beta), 2e-6, 2e-6);
        const g = grad(s, o);
        const want = fdGrad(s, o);
        g.forEach((row, i) => row.forEach((x, j) => {
          expect(Number.isFinite(x), `gradient [${i}][${j}] is ${x}`).toBe(true);
          near(x, want[i]![j]!, 1e-3, 2e-5);
        }));
      });
    }
  }

  it('is unchanged by a per-row shift of 1024 (unshifted logits do not overflow exp)', () => {
    const s = withMargin(3);
    const shifted = s.map((r, i) => r.map((x) => x + (i % 2 === 0 ? 1024 : -1024)));
    for (const beta of [0, 1, 60]) {
      near(scalar(debiasedInfoNce(t2(shifted), { tauPlus: 0.1, beta })), stableDebiased(s, 0.1, beta), 2e-6, 2e-6);
      expect(grad(shifted, { tauPlus: 0.1, beta }).flat().every(Number.isFinite)).toBe(true);
    }
  });

  it('where the floor binds, its gradient goes to the positive and the single smallest negative of the row (documented in agents/README.md)', () => {
    // tau+ 0.9 and a positive 2 above every negative: raw Ng < 0 in every row, so Ng is the floor
    const s = withMargin(2);
    const g = grad(s, { tauPlus: 0.9, beta: 0 });
    g.forEach((row, i) => {
      const negs = s[i]!.map((x, j) => (j === i ? Infinity : x));
      const smallest = negs.indexOf(Math.min(...negs));
      row.forEach((x, j) => {
        if (j === i || j === smallest) expect(Math.abs(x)).toBeGreaterThan(1e-4);
        else expect(x).toBe(0);
      });
    });
  });
});

describe('CURL key queue (MoCo)', () => {
  it('its keys are extra negatives after the batch keys, filled oldest-first and wrapping', async () => {
    const L = 3;
    const K = 5;
    const rng = new Rng(9);
    const obj = new CurlObjective('curl', { latentDim: L, queue: K, tauPlus: 0, beta: 0 });
    // identity LayerNorm parameters; the loss sees LN(u)
    const ln = (prefix: string) => new Map<string, tf.Tensor>([[`${prefix}.ln.g`, tf.ones([L])], [`${prefix}.ln.b`, tf.zeros([L])]]);
    const fixed = ln('target.critic');
    const W = randM(rng, L, L);
    const params = new Map([...ln('critic'), ['curl.W', t2(W)]]);
    const lnRow = (r: number[]) => {
      const m = r.reduce((a, x) => a + x, 0) / r.length;
      const v = r.reduce((a, x) => a + (x - m) ** 2, 0) / r.length;
      return r.map((x) => (x - m) / Math.sqrt(v + 1e-5));
    };
    const batches = [randM(rng, 3, L), randM(rng, 3, L), randM(rng, 3, L)];
    const uA = randM(rng, 3, L);
    const queued: number[][] = [];
    let ptr = 0;
    for (const keys of batches) {
      const inputs = { uA: t2(uA), uP: null, uPosT: t2(keys), uObsT: null, params, fixed };
      const got = scalar(obj.loss(inputs, (_, t) => t.dispose()));
      // by hand: logits of zA W [this batch's keys, then the queue's rows in slot order], minus the row max
      const allKeys = [...keys.map(lnRow), ...queued];
      const zA = uA.map(lnRow);
      const logits = zA.map((q) => {
        const qW = W[0]!.map((_, c) => q.reduce((s, x, r) => s + x * W[r]![c]!, 0));
        const row = allKeys.map((k) => dot(qW, k));
        const mx = Math.max(...row);
        return row.map((x) => x - mx);
      });
      expect(got).toBeCloseTo(loopCrossEntropy(logits), 4);
      await obj.afterStep(inputs);
      // slot order: rows go to ptr, ptr wraps at K
      for (const k of keys.map(lnRow)) {
        queued[ptr] = k;
        ptr = (ptr + 1) % K;
      }
    }
    const snap = obj.queueSnapshot();
    expect(snap.size).toBe(K);
    expect(snap.ptr).toBe((3 * 3) % K);
    queued.forEach((k, r) => k.forEach((x, c) => expect(snap.keys[r * L + c]!).toBeCloseTo(x, 5)));
    // the queue round-trips through getState/setState
    const copy = new CurlObjective('curl', { latentDim: L, queue: K, tauPlus: 0, beta: 0 });
    copy.setState(await obj.getState());
    expect(copy.queueSnapshot()).toEqual(snap);
    expect(() => new CurlObjective('curl', { latentDim: L, queue: K + 1, tauPlus: 0, beta: 0 }).setState(undefined)).toThrow(/no key queue/);
  });
});

describe('SimCLR NT-Xent', () => {
  const rng = new Rng(4);
  const h1 = randM(rng, 3, 4);
  const h2 = randM(rng, 3, 4);
  for (const temp of [0.1, 0.5, 2]) {
    it(`temperature ${temp}: 2N views, one positive and 2N - 2 negatives each`, () => {
      const { loss, accuracy } = ntXent(t2(h1), t2(h2), temp);
      accuracy.dispose();
      expect(scalar(loss)).toBeCloseTo(loopNtXent(h1, h2, temp), 4);
    });
  }
  it('accuracy counts views whose nearest other view is their partner', () => {
    const a: M = [[1, 0], [0, 1], [-1, 0.1]];
    const b: M = [[0.9, 0.1], [0.1, 1], [0, -1]]; // the third pair is far apart
    const { loss, accuracy } = ntXent(t2(a), t2(b), 0.1);
    loss.dispose();
    expect(scalar(accuracy)).toBeCloseTo(4 / 6, 6);
  });
});

describe('BYOL', () => {
  const rng = new Rng(5);
  const [p1, p2, q1, q2] = [randM(rng, 3, 4), randM(rng, 3, 4), randM(rng, 3, 4), randM(rng, 3, 4)];
  it('2 - 2 cos, symmetrised: prediction of view 1 vs target of view 2, plus the swap', () => {
    expect(scalar(byolLoss(t2(p1), t2(p2), t2(q1), t2(q2)))).toBeCloseTo(loopByol(p1, p2, q1, q2), 5);
    // swapping the views leaves it unchanged; dropping one direction halves nothing in general
    expect(scalar(byolLoss(t2(p2), t2(p1), t2(q2), t2(q1)))).toBeCloseTo(loopByol(p1, p2, q1, q2), 5);
    const oneWay = p1.reduce((s, _, i) => s + 2 - 2 * dot(unit(p1[i]!), unit(q2[i]!)), 0) / 3;
    expect(loopByol(p1, p2, q1, q2)).not.toBeCloseTo(oneWay, 2);
  });
  it('is 0 when predictions point along the other view\'s target, whatever the norms', () => {
    const t = randM(rng, 2, 3);
    expect(scalar(byolLoss(t2(t.map((r) => r.map((x) => 3 * x))), t2(t), t2(t), t2(t.map((r) => r.map((x) => 0.5 * x)))))).toBeCloseTo(0, 5);
  });
});

describe('Barlow Twins', () => {
  const rng = new Rng(6);
  const a = randM(rng, 6, 4, 2);
  const b = randM(rng, 6, 4, 0.5);
  it('batch-normalised cross-correlation, diagonal to 1, off-diagonal weighted by lambda', () => {
    for (const lam of [0, 0.01, 0.5]) {
      const r = barlowLoss(t2(a), t2(b), lam);
      const want = loopBarlow(a, b, lam);
      expect(scalar(r.onDiag)).toBeCloseTo(want.on, 4);
      expect(scalar(r.offDiag)).toBeCloseTo(want.off, 4);
      expect(scalar(r.loss)).toBeCloseTo(want.loss, 4);
    }
  });
  it('is invariant to per-dimension scale and shift of the projections (the normalisation)', () => {
    const a2 = a.map((r) => r.map((x, j) => 10 * (j + 1) * x + j));
    expect(scalar(barlowLoss(t2(a2), t2(b), 0.3).loss)).toBeCloseTo(loopBarlow(a, b, 0.3).loss, 3);
  });
  it('lambda is rescaled from the paper\'s 8192-d projection: lambda * 8192 / D', () => {
    expect(barlowLambdaEff(5e-3, 8192)).toBeCloseTo(5e-3, 12);
    expect(barlowLambdaEff(5e-3, 128)).toBeCloseTo(0.32, 12);
  });
});

describe('alignment and uniformity (Wang & Isola 2020)', () => {
  it('match the loop on L2-normalised rows', () => {
    const rng = new Rng(8);
    const a = randM(rng, 4, 3);
    const b = randM(rng, 4, 3);
    const na = a.map(unit);
    const nb = b.map(unit);
    let align = 0;
    for (let i = 0; i < 4; i++) align += dot(sub(na[i]!, nb[i]!), sub(na[i]!, nb[i]!)) / 4;
    let u = 0;
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) if (i !== j) u += Math.exp(-2 * dot(sub(na[i]!, na[j]!), sub(na[i]!, na[j]!))) / 12;
    const got = alignmentUniformity(t2(a), t2(b));
    expect(scalar(got.alignment)).toBeCloseTo(align, 5);
    expect(scalar(got.uniformity)).toBeCloseTo(Math.log(u), 5);
  });
});

describe('finite differences', () => {
  it('the NT-Xent gradient w.r.t. the SimCLR head\'s last weight matches central differences of the float64 loop', () => {
    const rng = new Rng(12);
    const x1 = randM(rng, 3, 4);
    const x2 = randM(rng, 3, 4);
    const w = randM(rng, 4, 3, 0.7);
    const proj = (x: M, ww: M) => x.map((r) => ww[0]!.map((_, c) => r.reduce((s, v, k) => s + v * ww[k]![c]!, 0)));
    const temp = 0.5;
    const g = tf.tidy(() => tf.grad((wt: tf.Tensor) => {
      const { loss, accuracy } = ntXent(tf.matMul(t2(x1), wt as tf.Tensor2D), tf.matMul(t2(x2), wt as tf.Tensor2D), temp);
      accuracy.dispose();
      return loss;
    })(t2(w)).arraySync() as M);
    const eps = 1e-5;
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 3; c++) {
        const plus = w.map((row) => [...row]);
        const minus = w.map((row) => [...row]);
        plus[r]![c]! += eps;
        minus[r]![c]! -= eps;
        const fd = (loopNtXent(proj(x1, plus), proj(x2, plus), temp) - loopNtXent(proj(x1, minus), proj(x2, minus), temp)) / (2 * eps);
        expect(g[r]![c]!).toBeCloseTo(fd, 3);
      }
    }
  });
  it('the Barlow gradient w.r.t. one view matches central differences of the float64 loop', () => {
    const rng = new Rng(13);
    const a = randM(rng, 5, 3);
    const b = randM(rng, 5, 3);
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => barlowLoss(x as tf.Tensor2D, t2(b), 0.2).loss)(t2(a)).arraySync() as M);
    const eps = 1e-5;
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 3; j++) {
        const plus = a.map((r) => [...r]);
        const minus = a.map((r) => [...r]);
        plus[i]![j]! += eps;
        minus[i]![j]! -= eps;
        const fd = (loopBarlow(plus, b, 0.2).loss - loopBarlow(minus, b, 0.2).loss) / (2 * eps);
        expect(g[i]![j]!).toBeCloseTo(fd, 2);
      }
    }
  });
});

describe('degenerate inputs', () => {
  it('an all-zero projection row (black frames, zero biases) gives finite gradients, not NaN', () => {
    const zero = tf.zeros([3, 4]) as tf.Tensor2D;
    const other = tf.tensor2d([[1, 2, 0, 0], [0, 1, 0, 1], [1, 0, 1, 0]]);
    const gByol = tf.grad((x: tf.Tensor) => byolLoss(x as tf.Tensor2D, x as tf.Tensor2D, other, other))(zero);
    const gSim = tf.grad((x: tf.Tensor) => {
      const { loss, accuracy } = ntXent(x as tf.Tensor2D, other, 0.1);
      accuracy.dispose();
      return loss;
    })(zero);
    for (const g of [gByol, gSim]) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([zero, other, gByol, gSim]);
  });
});

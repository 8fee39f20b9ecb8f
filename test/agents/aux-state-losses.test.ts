/*
 * soft-nn, memory-bank, MoCHi and SwAV against float64 loops written here
 * (no tfjs, no code shared with agents/aux) on tiny shapes: the losses, the
 * mining and mixing, Sinkhorn-Knopp, the bank's update, their gradients
 * against central differences, and their checkpointed state.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ObjectiveDraws } from '../../agents/aux/draws.js';
import { MemoryBankObjective, memoryBankLoss } from '../../agents/aux/memory-bank-objective.js';
import { MochiObjective, drawMixes, mochiLogits, mochiLoss } from '../../agents/aux/mochi-objective.js';
import type { MochiMixes } from '../../agents/aux/mochi-objective.js';
import { softNearestNeighbour } from '../../agents/aux/soft-nn-objective.js';
import { sinkhorn, swavLoss } from '../../agents/aux/swav-objective.js';
import type { AuxInputs } from '../../agents/aux/objective.js';
import { Rng } from '../../src/core/rng.js';
import { useBackend } from './helpers.js';
import { dot, randM, scalar, t2, unit, type M } from './reference-math.js';

const lse = (xs: number[]) => {
  const c = Math.max(...xs);
  return c + Math.log(xs.reduce((s, x) => s + Math.exp(x - c), 0));
};
/** Central differences of f at x, entry by entry. */
function fd(x: M, f: (x: M) => number, eps = 1e-5): M {
  return x.map((row, i) => row.map((_, j) => {
    const plus = x.map((r) => [...r]);
    const minus = x.map((r) => [...r]);
    plus[i]![j]! += eps;
    minus[i]![j]! -= eps;
    return (f(plus) - f(minus)) / (2 * eps);
  }));
}
function expectClose(got: M, want: M, tol: number): void {
  got.forEach((row, i) => row.forEach((x, j) => expect(Math.abs(x - want[i]![j]!), `[${i}][${j}] ${x} vs ${want[i]![j]}`).toBeLessThan(tol * Math.max(1, Math.abs(want[i]![j]!)))));
}
const gradOf = (x: M, f: (x: tf.Tensor2D) => tf.Scalar): M => tf.tidy(() => tf.grad((t: tf.Tensor) => f(t as tf.Tensor2D))(t2(x)).arraySync() as M);

beforeAll(async () => useBackend('cpu'));

// ---------------------------------------------------------------- soft-nn

function loopSoftNn(z1: M, z2: M, temp: number): { loss: number; accuracy: number } {
  const n = z1.length;
  const z = [...z1, ...z2];
  const dim = z1[0]!.length;
  const d = (a: number[], b: number[]) => a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0) / dim;
  let total = 0;
  let hits = 0;
  for (let k = 0; k < 2 * n; k++) {
    const p = k < n ? k + n : k - n;
    let denom = 0;
    let nearest = -1;
    for (let l = 0; l < 2 * n; l++) {
      if (l === k) continue;
      denom += Math.exp(-d(z[k]!, z[l]!) / temp);
      if (nearest < 0 || d(z[k]!, z[l]!) < d(z[k]!, z[nearest]!)) nearest = l;
    }
    total += -Math.log(Math.exp(-d(z[k]!, z[p]!) / temp) / denom);
    if (nearest === p) hits++;
  }
  return { loss: total / (2 * n), accuracy: hits / (2 * n) };
}

describe('soft-nn (Frosst et al. 2019)', () => {
  const rng = new Rng(31);
  const z1 = randM(rng, 4, 5);
  const z2 = z1.map((r) => r.map((x) => x + 0.4 * rng.normal()));
  for (const temp of [0.05, 0.2, 1, 5]) {
    it(`temperature ${temp}: loss and accuracy match the loop`, () => {
      const { loss, accuracy } = softNearestNeighbour(t2(z1), t2(z2), temp);
      const want = loopSoftNn(z1, z2, temp);
      expect(scalar(loss)).toBeCloseTo(want.loss, 4);
      expect(scalar(accuracy)).toBeCloseTo(want.accuracy, 6);
    });
  }
  it('its gradient in either view matches central differences of the loop', () => {
    const temp = 0.7;
    const loss = (a: tf.Tensor2D, b: tf.Tensor2D) => {
      const r = softNearestNeighbour(a, b, temp);
      r.accuracy.dispose();
      return r.loss;
    };
    expectClose(gradOf(z1, (x) => loss(x, t2(z2))), fd(z1, (x) => loopSoftNn(x, z2, temp).loss), 2e-3);
    expectClose(gradOf(z2, (x) => loss(t2(z1), x)), fd(z2, (x) => loopSoftNn(z1, x, temp).loss), 2e-3);
  });
  it('on rows of norm sqrt(L) it is NT-Xent at T / 2 (d / L = 2 - 2 cos): the documented default', () => {
    const on = (m: M) => m.map((r) => unit(r).map((x) => x * Math.sqrt(5)));
    const [a, b] = [on(z1), on(z2)];
    const ntXentLoop = (temp: number) => {
      const h = [...a, ...b].map(unit);
      let total = 0;
      for (let k = 0; k < 8; k++) {
        const p = k < 4 ? k + 4 : k - 4;
        const row = h.map((x, l) => (l === k ? -Infinity : dot(h[k]!, x) / temp));
        total += lse(row.filter((x) => x > -Infinity)) - row[p]!;
      }
      return total / 8;
    };
    expect(loopSoftNn(a, b, 0.2).loss).toBeCloseTo(ntXentLoop(0.1), 10);
  });
});

// ---------------------------------------------------------------- SwAV

function loopSinkhorn(scores: M, eps: number, iters: number): M {
  const b = scores.length;
  const k = scores[0]!.length;
  // the paper's code, in [K, B] as there
  let q: M = Array.from({ length: k }, (_, p) => scores.map((row) => Math.exp(row[p]! / eps)));
  const total = q.flat().reduce((s, x) => s + x, 0);
  q = q.map((r) => r.map((x) => x / total));
  for (let it = 0; it < iters; it++) {
    q = q.map((r) => {
      const s = r.reduce((a, x) => a + x, 0);
      return r.map((x) => x / s / k);
    });
    for (let j = 0; j < b; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += q[p]![j]!;
      for (let p = 0; p < k; p++) q[p]![j] = q[p]![j]! / s / b;
    }
  }
  return scores.map((_, j) => q.map((r) => r[j]! * b));
}

function loopSwav(h1: M, h2: M, c: M, temp: number, eps: number, iters: number, fixedCodes?: [M, M]): number {
  const s = [h1, h2].map((h) => h.map((r) => c.map((p) => dot(unit(r), p))));
  const q = fixedCodes ?? (s.map((x) => loopSinkhorn(x, eps, iters)) as [M, M]);
  const ce = (codes: M, sc: M) => -codes.reduce((tot, row, i) => {
    const l = lse(sc[i]!.map((x) => x / temp));
    return tot + row.reduce((a, qk, k) => a + qk * (sc[i]![k]! / temp - l), 0);
  }, 0) / codes.length;
  return (ce(q[0], s[1]!) + ce(q[1], s[0]!)) / 2;
}

describe('SwAV (Caron et al. 2020)', () => {
  const rng = new Rng(32);
  const scores = randM(rng, 6, 4).map((r) => r.map((x) => Math.tanh(x)));
  for (const [eps, iters] of [[0.05, 3], [0.3, 1], [1, 10]] as const) {
    it(`Sinkhorn-Knopp, epsilon ${eps}, ${iters} iterations: the codes match the paper's loop`, () => {
      const got = tf.tidy(() => sinkhorn(t2(scores), { epsilon: eps, iterations: iters }).arraySync() as M);
      expectClose(got, loopSinkhorn(scores, eps, iters), 1e-4);
      // each sample's codes sum to 1 after the last (per-sample) step
      got.forEach((row) => expect(row.reduce((a, x) => a + x, 0)).toBeCloseTo(1, 5));
    });
  }
  it('with more iterations the prototypes share the batch equally: column sums -> B / K', () => {
    const got = tf.tidy(() => sinkhorn(t2(scores), { epsilon: 0.5, iterations: 100 }).arraySync() as M);
    for (let p = 0; p < 4; p++) expect(got.reduce((a, row) => a + row[p]!, 0)).toBeCloseTo(6 / 4, 4);
  });
  it('the codes carry no gradient to the scores', () => {
    const g = gradOf(scores, (x) => tf.sum(tf.mul(sinkhorn(x, { epsilon: 0.1, iterations: 3 }), tf.randomNormal([6, 4], 0, 1, 'float32', 1))) as tf.Scalar);
    expect(g.flat().every((x) => x === 0)).toBe(true);
  });
  const h1 = randM(rng, 5, 3);
  const h2 = h1.map((r) => r.map((x) => x + 0.3 * rng.normal()));
  const protos = randM(rng, 4, 3).map(unit);
  it('swapped prediction matches the loop; its gradients (codes held fixed) match central differences', () => {
    const o = { epsilon: 0.05, iterations: 3 };
    const run = (a: tf.Tensor2D, b: tf.Tensor2D, c: tf.Tensor2D) => {
      const r = swavLoss(a, b, c, 0.1, o);
      r.accuracy.dispose();
      return r.loss;
    };
    expect(scalar(run(t2(h1), t2(h2), t2(protos)))).toBeCloseTo(loopSwav(h1, h2, protos, 0.1, 0.05, 3), 4);
    const codes = [h1, h2].map((h) => loopSinkhorn(h.map((r) => protos.map((p) => dot(unit(r), p))), 0.05, 3)) as [M, M];
    expectClose(gradOf(h1, (x) => run(x, t2(h2), t2(protos))), fd(h1, (x) => loopSwav(x, h2, protos, 0.1, 0.05, 3, codes)), 2e-3);
    expectClose(gradOf(protos, (x) => run(t2(h1), t2(h2), x)), fd(protos, (x) => loopSwav(h1, h2, x, 0.1, 0.05, 3, codes)), 2e-3);
  });
  it('accuracy is how often a crop\'s top prototype is the other crop\'s top code', () => {
    const r = swavLoss(t2(h1), t2(h1), t2(protos), 0.1, { epsilon: 0.05, iterations: 3 });
    r.loss.dispose();
    const s = h1.map((row) => protos.map((p) => dot(unit(row), p)));
    const q = loopSinkhorn(s, 0.05, 3);
    const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));
    const want = s.filter((row, i) => argmax(row) === argmax(q[i]!)).length / s.length;
    expect(scalar(r.accuracy)).toBeCloseTo(want, 6);
  });
});

// ---------------------------------------------------------------- MoCHi

/** Query i's hardest negatives (highest cosine, own key i excluded), hardest first. */
function loopHardest(q: M, keys: M, n: number): number[][] {
  return q.map((qi, i) => keys.map((k, j) => [dot(unit(qi), unit(k)), j] as const).filter(([, j]) => j !== i).sort((a, b) => b[0] - a[0]).slice(0, n).map(([, j]) => j));
}

function loopMochi(q: M, keys: M, n: number, mx: MochiMixes, temp: number): { logits: M; loss: number } {
  const hard = loopHardest(q, keys, n);
  const kn = keys.map(unit);
  const logits = q.map((qi, i) => {
    const qu = unit(qi);
    const row = kn.map((k) => dot(qu, k));
    for (let k = 0; k < mx.s; k++) {
      const a = mx.alpha[i * mx.s + k]!;
      const x = kn[hard[i]![mx.first[i * mx.s + k]!]!]!;
      const y = kn[hard[i]![mx.second[i * mx.s + k]!]!]!;
      row.push(dot(qu, unit(x.map((v, d) => a * v + (1 - a) * y[d]!))));
    }
    for (let k = 0; k < mx.sQuery; k++) {
      const b = mx.beta[i * mx.sQuery + k]!;
      const y = kn[hard[i]![mx.single[i * mx.sQuery + k]!]!]!;
      row.push(dot(qu, unit(qu.map((v, d) => b * v + (1 - b) * y[d]!))));
    }
    return row.map((x) => x / temp);
  });
  const loss = logits.reduce((s, row, i) => s + lse(row) - row[i]!, 0) / q.length;
  return { logits, loss };
}

/** The same loss with the query's own mixes h' held at the given q (the implementation's constants). */
function loopMochiFixedMix(q: M, q0: M, keys: M, n: number, mx: MochiMixes, temp: number): number {
  const hard = loopHardest(q0, keys, n);
  const kn = keys.map(unit);
  let total = 0;
  q.forEach((qi, i) => {
    const qu = unit(qi);
    const q0u = unit(q0[i]!);
    const row = kn.map((k) => dot(qu, k));
    for (let k = 0; k < mx.s; k++) {
      const a = mx.alpha[i * mx.s + k]!;
      const x = kn[hard[i]![mx.first[i * mx.s + k]!]!]!;
      const y = kn[hard[i]![mx.second[i * mx.s + k]!]!]!;
      row.push(dot(qu, unit(x.map((v, d) => a * v + (1 - a) * y[d]!))));
    }
    for (let k = 0; k < mx.sQuery; k++) {
      const b = mx.beta[i * mx.sQuery + k]!;
      const y = kn[hard[i]![mx.single[i * mx.sQuery + k]!]!]!;
      row.push(dot(qu, unit(q0u.map((v, d) => b * v + (1 - b) * y[d]!))));
    }
    const r = row.map((x) => x / temp);
    total += lse(r) - r[i]!;
  });
  return total / q.length;
}

describe('MoCHi (Kalantidis et al. 2020)', () => {
  const rng = new Rng(33);
  const q = randM(rng, 3, 4);
  const keys = [...q.map((r) => r.map((x) => x + 0.5 * rng.normal())), ...randM(rng, 5, 4)]; // 3 batch keys + 5 queued
  const mixes = drawMixes(new Rng(1), 3, 4, 3, 2);
  it('draws positions below n and weights alpha in [0, 1), beta in [0, 1/2)', () => {
    const m = drawMixes(new Rng(2), 50, 4, 6, 6);
    expect([...m.first, ...m.second, ...m.single].every((p) => p >= 0 && p < 4)).toBe(true);
    expect(Math.max(...m.alpha)).toBeLessThan(1);
    expect(Math.max(...m.beta)).toBeLessThan(0.5);
    expect(Math.max(...m.beta)).toBeGreaterThan(0.4);
    expect(drawMixes(new Rng(2), 50, 4, 6, 6)).toEqual(m);
  });
  it('mines each query\'s n hardest negatives (its own key excluded) as the loop does', () => {
    const { logits, hard } = mochiLogits(t2(q), t2(keys), 4, mixes, 0.2);
    logits.dispose();
    expect(Array.from(hard)).toEqual(loopHardest(q, keys, 4).flat());
  });
  for (const [temp, s, sQuery] of [[0.2, 3, 2], [0.07, 3, 0], [1, 0, 2], [0.5, 0, 0]] as const) {
    it(`T ${temp}, s ${s}, s' ${sQuery}: logits (keys, then mixes of pairs, then mixes with the query) and loss match the loop`, () => {
      const mx = drawMixes(new Rng(3), 3, 4, s, sQuery);
      const { logits } = mochiLogits(t2(q), t2(keys), 4, mx, temp);
      const want = loopMochi(q, keys, 4, mx, temp);
      expectClose(logits.arraySync() as M, want.logits, 1e-4);
      const { loss, accuracy } = mochiLoss(logits, keys.length);
      expect(scalar(loss)).toBeCloseTo(want.loss, 4);
      const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));
      expect(scalar(accuracy)).toBeCloseTo(want.logits.filter((row, i) => argmax(row.slice(0, keys.length)) === i).length / 3, 6);
      logits.dispose();
    });
  }
  it('its gradient in the query matches central differences, with the mixes constant (the query inside h\' included)', () => {
    const run = (x: tf.Tensor2D) => {
      const { logits } = mochiLogits(x, t2(keys), 4, mixes, 0.3);
      const r = mochiLoss(logits, keys.length);
      r.accuracy.dispose();
      return r.loss;
    };
    expectClose(gradOf(q, run), fd(q, (x) => loopMochiFixedMix(x, q, keys, 4, mixes, 0.3)), 2e-3);
    // and not the gradient through h' (which the loop with moving mixes would have)
    const moving = fd(q, (x) => loopMochi(x, keys, 4, mixes, 0.3).loss);
    expect(Math.max(...gradOf(q, run).flat().map((g, k) => Math.abs(g - moving.flat()[k]!)))).toBeGreaterThan(1e-3);
  });
  it('keys get no gradient', () => {
    const g = gradOf(keys, (k) => mochiLoss(mochiLogits(t2(q), k, 4, mixes, 0.3).logits, keys.length).loss);
    expect(g.flat().every((x) => x === 0)).toBe(true);
  });

  const L = 4;
  const ln = (prefix: string) => new Map<string, tf.Tensor>([[`${prefix}.ln.g`, tf.ones([L])], [`${prefix}.ln.b`, tf.zeros([L])]]);
  const values = { auxQueue: 5, auxTemperature: 0.2, auxHardNegatives: 3, auxMixes: 2, auxQueryMixes: 1 };
  it('its queue and its draws round-trip through the checkpoint state; a restored copy computes what the original does next', async () => {
    const a = new MochiObjective(L, values, 7);
    const inputs = (seed: number): AuxInputs => {
      const r = new Rng(seed);
      return { uA: t2(randM(r, 3, L)), uP: null, uPosT: t2(randM(r, 3, L)), uObsT: null, params: ln('critic'), fixed: ln('target.critic') };
    };
    for (let i = 0; i < 3; i++) {
      const inp = inputs(i);
      scalar(a.loss(inp, (_, t) => t.dispose()));
      await a.afterStep(inp);
    }
    expect(a.queueSnapshot().size).toBe(5);
    const b = new MochiObjective(L, values, 99);
    b.setState(await a.getState());
    expect(await b.getState()).toEqual(await a.getState());
    const next = inputs(10);
    expect(scalar(b.loss(next, (_, t) => t.dispose()))).toBe(scalar(a.loss(next, (_, t) => t.dispose())));
    expect(await b.getState()).toEqual(await a.getState());
    // a fresh objective (other seed) draws other mixes: the draws are state
    const c = new MochiObjective(L, values, 99);
    c.setState({ ...(await a.getState()), 'mochi.rng': (await new MochiObjective(L, values, 5).getState())['mochi.rng']! });
    expect(scalar(c.loss(next, (_, t) => t.dispose()))).not.toBe(scalar(a.loss(inputs(10), (_, t) => t.dispose())));
  });
  it('refuses a state without its queue or draws, or with a broken generator', async () => {
    const a = new MochiObjective(L, values, 7);
    const st = await a.getState();
    expect(() => a.setState({ ...st, 'mochi.queue': undefined! })).toThrow(/no key queue, this agent has --aux-queue 5/);
    const { 'mochi.rng': _, ...noRng } = st;
    expect(() => a.setState(noRng)).toThrow(/no mochi.rng/);
    const bad = { shape: [258], data: new Float32Array(258) };
    expect(() => a.setState({ ...st, 'mochi.rng': bad })).toThrow(/mochi.rng has a prng.S that is not a permutation/);
    expect(() => new MochiObjective(L, { ...values, auxQueue: 0 }, 1).setState(st)).toThrow(/key queue of 5 but this agent has --aux-queue 0/);
  });
});

// ---------------------------------------------------------------- memory bank

function loopBank(f: M, v: M, valid: number[], negs: M, own: number[][], temp: number, lambda: number): { loss: number; accuracy: number; proximal: number } {
  let [loss, acc, prox, count] = [0, 0, 0, 0];
  f.forEach((fi, i) => {
    if (!valid[i]) return;
    const fu = unit(fi);
    const pos = dot(fu, v[i]!) / temp;
    const neg = negs.map((n, j) => (own[i]![j] ? null : dot(fu, n) / temp)).filter((x): x is number => x !== null);
    const drift = fu.reduce((s, x, d) => s + (x - v[i]![d]!) ** 2, 0);
    loss += lse([pos, ...neg]) - pos + lambda * drift;
    acc += neg.every((x) => pos > x) ? 1 : 0;
    prox += drift;
    count++;
  });
  const c = Math.max(1, count);
  return { loss: loss / c, accuracy: acc / c, proximal: prox / c };
}

describe('memory bank (Wu et al. 2018)', () => {
  const rng = new Rng(34);
  const f = randM(rng, 4, 3);
  const v = f.map((r) => unit(r.map((x) => x + 0.3 * rng.normal())));
  const negs = randM(rng, 5, 3).map(unit);
  const valid = [1, 0, 1, 1];
  const own = [[0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 1]];
  const run = (ff: tf.Tensor2D, o: { temperature: number; proximal: number }) =>
    memoryBankLoss(ff, t2(v), tf.tensor1d(valid), t2(negs), t2(own), o);
  for (const [temperature, proximal] of [[0.07, 30], [0.5, 0], [1, 2]] as const) {
    it(`T ${temperature}, lambda ${proximal}: loss, accuracy and proximal term match the loop (first visits and own entries left out)`, () => {
      const got = run(t2(f), { temperature, proximal });
      const want = loopBank(f, v, valid, negs, own, temperature, proximal);
      expect(scalar(got.loss)).toBeCloseTo(want.loss, 3);
      expect(scalar(got.accuracy)).toBeCloseTo(want.accuracy, 6);
      expect(scalar(got.proximal)).toBeCloseTo(want.proximal, 5);
    });
  }
  it('its gradient in the features matches central differences; rows without an entry get none', () => {
    const g = gradOf(f, (x) => {
      const r = run(x, { temperature: 0.5, proximal: 2 });
      tf.dispose([r.accuracy, r.proximal]);
      return r.loss;
    });
    expectClose(g, fd(f, (x) => loopBank(x, v, valid, negs, own, 0.5, 2).loss), 2e-3);
    expect(g[1]).toEqual([0, 0, 0]);
  });

  const L = 3;
  // built when a test runs (the backend is set in beforeAll)
  const lnParams = () => new Map<string, tf.Tensor>([['critic.ln.g', tf.ones([L])], ['critic.ln.b', tf.zeros([L])]]);
  const lnRow = (r: number[]) => {
    const m = r.reduce((a, x) => a + x, 0) / r.length;
    const s = Math.sqrt(r.reduce((a, x) => a + (x - m) ** 2, 0) / r.length + 1e-5);
    return r.map((x) => (x - m) / s);
  };
  const values = { auxTemperature: 0.1, auxBankNegatives: 3, auxBankMomentum: 0.5, auxProximal: 1 };
  const step = async (bank: MemoryBankObjective, u: M, indices: number[]) => {
    const ln = lnParams();
    const inp: AuxInputs = { uA: t2(u), uP: null, uPosT: null, uObsT: null, params: ln, fixed: ln, indices: Float64Array.from(indices) };
    const metrics: Record<string, number> = {};
    metrics.loss = scalar(bank.loss(inp, (name, t) => (metrics[name] = scalar(t))));
    await bank.afterStep(inp);
    return metrics;
  };
  it('fills a slot with a first visit\'s feature, then moves it by momentum; a new transition in a slot replaces it', async () => {
    const bank = new MemoryBankObjective(4, L, values, 1);
    const u0 = randM(rng, 2, L);
    const first = await step(bank, u0, [1, 6]); // slots 1 and 2
    expect(first).toEqual({ loss: 0, auxAccuracy: 0, auxProximal: 0 }); // nothing to compare with yet
    let snap = bank.snapshot();
    expect(Array.from(snap.owner)).toEqual([-1, 1, 6, -1]);
    expect(Array.from(snap.filled.slice(0, snap.filledCount))).toEqual([1, 2]);
    const f0 = u0.map((r) => unit(lnRow(r)));
    expectClose([Array.from(snap.bank.slice(3, 9))], [[...f0[0]!, ...f0[1]!]], 1e-5);
    const u1 = randM(rng, 2, L);
    await step(bank, u1, [1, 10]); // transition 1 again; transition 10 takes slot 2 from 6
    snap = bank.snapshot();
    const f1 = u1.map((r) => unit(lnRow(r)));
    const moved = unit(f0[0]!.map((x, d) => 0.5 * x + 0.5 * f1[0]![d]!));
    expectClose([Array.from(snap.bank.slice(3, 6)), Array.from(snap.bank.slice(6, 9))], [moved, f1[1]!], 1e-5);
    expect(Array.from(snap.owner)).toEqual([-1, 1, 10, -1]);
    expect(snap.filledCount).toBe(2);
  });
  it('its loss is the bank loss at its own entry and negatives drawn from the filled slots', async () => {
    const bank = new MemoryBankObjective(4, L, values, 2);
    await step(bank, randM(rng, 3, L), [0, 1, 2]);
    const before = bank.snapshot();
    const u = randM(rng, 2, L);
    const got = await step(bank, u, [1, 7]); // 1 has an entry, 7 (slot 3) is new
    // the draws the bank made (none in the first step: its bank was empty), from the same stream
    const draws = new ObjectiveDraws(2, 'memory-bank');
    const drawn = [0, 1, 2].map(() => before.filled[draws.int(3)]!);
    const entry = (slot: number) => Array.from(before.bank.slice(slot * L, (slot + 1) * L));
    const want = loopBank(u.map(lnRow), [entry(1), [0, 0, 0]], [1, 0], drawn.map(entry), [drawn.map((s) => (s === 1 ? 1 : 0)), drawn.map((s) => (s === 3 ? 1 : 0))], 0.1, 1);
    expect(got.loss).toBeCloseTo(want.loss, 3);
    expect(got.auxProximal).toBeCloseTo(want.proximal, 5);
  });
  it('round-trips bank, owners, fill order and draws through the checkpoint state; a restored copy continues identically', async () => {
    const a = new MemoryBankObjective(5, L, values, 3);
    for (let i = 0; i < 3; i++) await step(a, randM(new Rng(40 + i), 3, L), [i, i + 4, 2 ** 40 + 5 * i]);
    const st = await a.getState();
    // slot 0 holds transition 5 (it replaced 0): hi 0, lo 5
    expect(Array.from(st['memory-bank.owner']!.data.slice(0, 2))).toEqual([0, 5]);
    const b = new MemoryBankObjective(5, L, values, 77);
    b.setState(st);
    expect(b.snapshot()).toEqual(a.snapshot());
    const u = randM(rng, 3, L);
    expect(await step(b, u, [0, 3, 9])).toEqual(await step(a, u, [0, 3, 9]));
    expect(await b.getState()).toEqual(await a.getState());
    // indices above 2^24 survive the float32 records (hi / lo)
    expect(b.snapshot().owner).toContain(2 ** 40 + 10);
  });
  it('refuses states of another size or with broken bookkeeping, and a batch without indices', async () => {
    const a = new MemoryBankObjective(5, L, values, 3);
    await step(a, randM(rng, 2, L), [0, 1]);
    const st = await a.getState();
    expect(() => new MemoryBankObjective(6, L, values, 3).setState(st)).toThrow(/memory-bank.bank has shape \[5,3\], this agent expects \[6,3\] \(bank slots = --replay-capacity 6, latent 3\)/);
    expect(() => a.setState({})).toThrow(/no memory-bank.bank/);
    const owner = st['memory-bank.owner']!.data.slice();
    owner[2 * 1 + 1] = 2; // slot 1 claims transition 2 (slot 2)
    expect(() => a.setState({ ...st, 'memory-bank.owner': { shape: [5, 2], data: owner } })).toThrow(/owner of slot 1 is 0\/2/);
    const filled = st['memory-bank.filled']!.data.slice();
    filled[1] = 0;
    expect(() => a.setState({ ...st, 'memory-bank.filled': { shape: [5], data: filled } })).toThrow(/does not list the 2 filled slots once each/);
    const inp: AuxInputs = { uA: t2(randM(rng, 2, L)), uP: null, uPosT: null, uObsT: null, params: lnParams(), fixed: lnParams() };
    expect(() => a.loss(inp, (_, t) => t.dispose())).toThrow(/needs each row's replay index/);
  });
});

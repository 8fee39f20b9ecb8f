import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Adam, SUBNORMAL_FLUSH_EVERY } from '../../agents/adam.js';
import { CurlSacAgent } from '../../agents/curl-sac.js';
import { softUpdate } from '../../agents/ema.js';
import { createHeadKernels } from '../../agents/head-kernels.js';
import type { HeadEngineName, HeadKernels, MlpGrad } from '../../agents/head-kernels.js';
import type { AgentSpec } from '../../agents/index.js';
import { loadConvAddon } from '../../agents/native/addon.js';
import { mlpForward } from '../../agents/networks.js';
import type { MlpParams } from '../../agents/networks.js';
import { agentCompute } from '../../src/conv-engine.js';
import { Rng } from '../../src/core/rng.js';
import { randomBatch, tinyConfig, useBackend } from './helpers.js';

const built = loadConvAddon().available;

function randomTensor(rng: Rng, shape: number[], scale: number): tf.Tensor {
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * scale), shape);
}

function randomMlp(seed: number, sizes: number[]): MlpParams {
  const rng = new Rng(seed);
  const w: tf.Tensor2D[] = [];
  const b: tf.Tensor1D[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    w.push(randomTensor(rng, [sizes[i]!, sizes[i + 1]!], 1 / Math.sqrt(sizes[i]!)) as tf.Tensor2D);
    b.push(randomTensor(rng, [sizes[i + 1]!], 0.1) as tf.Tensor1D);
  }
  return { w, b };
}

/** max |a - b| / (1 + |b|) */
function worst(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return w;
}

/** 'none' when a and b hold the same float32 values bit for bit (+0 and -0 differ), else where they first differ. */
function firstDifference(a: Float32Array, b: Float32Array): string {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  const i = a.findIndex((x, k) => !Object.is(x, b[k]));
  return i < 0 ? 'none' : `[${i}]: ${a[i]} and ${b[i]}`;
}

/** The MLP's output and the gradients of sum(out * weights) in its input and (with 'all') its parameters. */
function outputAndGrads(kernels: HeadKernels, grad: MlpGrad, x: tf.Tensor2D, p: MlpParams, weights: tf.Tensor2D): Float32Array[] {
  const mlp = kernels.mlp(grad);
  const inputs = grad === 'all' ? [x, ...p.w, ...p.b] : [x];
  const out = tf.tidy(() => mlp(x, p));
  const grads = tf.tidy(() => tf.grads((...ts: tf.Tensor[]) => {
    const q = grad === 'all' ? { w: ts.slice(1, 1 + p.w.length) as tf.Tensor2D[], b: ts.slice(1 + p.w.length) as tf.Tensor1D[] } : p;
    return tf.sum(tf.mul(mlp(ts[0] as tf.Tensor2D, q), weights));
  })(inputs));
  const values = [out, ...grads].map((t) => t.dataSync() as Float32Array);
  tf.dispose([out, ...grads]);
  return values;
}

describe.runIf(built)('libtorch head kernels against tfjs', () => {
  beforeAll(() => useBackend('wasm'));
  const tfjs = createHeadKernels({ engine: 'tfjs', threads: 1 });
  const native = built ? createHeadKernels({ engine: 'libtorch', threads: 2 }) : tfjs;

  // a Q network's shapes (latent + action in, one out) and an actor's, with a row count that is a multiple of nothing
  it.each([
    { sizes: [7, 33, 33, 1], rows: 13, grad: 'all' as const },
    { sizes: [6, 40, 40, 4], rows: 1, grad: 'all' as const },
    { sizes: [7, 33, 33, 1], rows: 17, grad: 'input' as const },
    { sizes: [5, 64, 2], rows: 9, grad: 'none' as const },
  ])('an MLP $sizes on $rows rows: output and gradients ($grad) match tfjs to rounding', ({ sizes, rows, grad }) => {
    const rng = new Rng(sizes.length * 100 + rows);
    const p = randomMlp(rows, sizes);
    const x = randomTensor(rng, [rows, sizes[0]!], 1) as tf.Tensor2D;
    const weights = randomTensor(rng, [rows, sizes.at(-1)!], 1) as tf.Tensor2D;
    if (grad === 'none') {
      const [a, b] = [native, tfjs].map((k) => tf.tidy(() => k.mlp('none')(x, p)).dataSync() as Float32Array);
      expect(worst(a!, b!)).toBeLessThan(2e-6);
    } else {
      const got = outputAndGrads(native, grad, x, p, weights);
      const want = outputAndGrads(tfjs, grad, x, p, weights);
      expect(got.length).toBe(grad === 'all' ? 2 + 2 * p.w.length : 2);
      // alive: some ReLUs pass, so the gradients are not trivially zero
      expect(want.every((g) => g.some((v) => v !== 0))).toBe(true);
      got.forEach((g, i) => expect(worst(g, want[i]!), `tensor ${i}`).toBeLessThan(1e-5));
    }
    tf.dispose([x, weights, ...p.w, ...p.b]);
  });

  it('keeps one prepared layer per tensor: a new tensor of the same shape is read again', () => {
    const p = randomMlp(5, [4, 8, 1]);
    const x = tf.ones([3, 4]) as tf.Tensor2D;
    const mlp = native.mlp('none');
    const before = tf.tidy(() => mlp(x, p)).dataSync()[0]!;
    const w1 = tf.mul(p.w[1]!, 2) as tf.Tensor2D;
    const b1 = tf.mul(p.b[1]!, 2) as tf.Tensor1D;
    const after = tf.tidy(() => mlp(x, { w: [p.w[0]!, w1], b: [p.b[0]!, b1] })).dataSync()[0]!;
    expect(after).toBeCloseTo(2 * before, 4);
    tf.dispose([x, w1, b1, ...p.w, ...p.b]);
  });

  it('Adam and the target EMA agree with their tfjs forms bit for bit, across the kernels\' thread split', async () => {
    const rng = new Rng(9);
    // 70,000 values: more than one of the kernels' 32,768-value chunks
    const shapes = { big: [350, 200], small: [3] };
    const make = () => new Map(Object.entries(shapes).map(([n, s]) => [n, tf.variable(randomTensor(new Rng(n.length), s, 1))]));
    const [pa, pb] = [make(), make()];
    const options = { lr: 3e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    const a = new Adam(pa, ['big', 'small'], options);
    const b = new Adam(pb, ['big', 'small'], options, native.native);
    for (let step = 0; step < 4; step++) {
      const grads = new Map(Object.entries(shapes).map(([n, s]) => [n, randomTensor(rng, s, step === 2 ? 1e-6 : 1)]));
      a.step(grads);
      b.step(grads);
      tf.dispose([...grads.values()]);
    }
    for (const n of Object.keys(shapes)) expect(pb.get(n)!.dataSync()).toEqual(pa.get(n)!.dataSync());
    const [sa, sb] = [await a.getState(), await b.getState()];
    expect(sb).toEqual(sa);
    // and the state moves between the two forms
    const c = new Adam(make(), ['big', 'small'], options, native.native);
    c.setState(sa, 'test');
    expect(await c.getState()).toEqual(sa);

    for (const [params, kernels] of [[pa, null], [pb, native.native]] as const) {
      params.set('target.big', tf.variable(tf.zeros(shapes.big)));
      softUpdate(params, ['big'], 0.05, kernels);
      softUpdate(params, ['big'], 0.05, kernels);
    }
    expect(pb.get('target.big')!.dataSync()).toEqual(pa.get('target.big')!.dataSync());
    for (const t of [...pa.values(), ...pb.values()]) t.dispose();
    a.dispose();
    b.dispose();
    c.dispose();
  });

  it('both store subnormal moments as +0 on a flushing step (and keep them between), bit for bit alike, leaving the parameters where torch leaves them', async () => {
    const MIN = 2 ** -126;
    // moments straddling FLT_MIN after one decay (beta1 0.9, beta2 0.999), of both signs, a dead unit's
    // stuck few ulps, and normal ones; live and dead (zero) gradients; 5,000 of each, over the thread split
    const m0 = [1.1 * MIN, -1.1 * MIN, 1.2 * MIN, 4 * 2 ** -149, -(2 ** -140), 0.25, 0, 3e-3];
    const v0 = [1e-12, 1.0005 * MIN, 1.002 * MIN, 1e-12, 1e-12, 1e-6, 1.0005 * MIN, 1e-6];
    const g0 = [0, 0, 0, 0, 0, 0.5, 0, -2e-3];
    const n = 5_000 * m0.length;
    const tile = (xs: number[]) => Float32Array.from({ length: n }, (_, i) => xs[i % xs.length]!);
    const p0 = Float32Array.from({ length: n }, (_, i) => 0.01 + (i % 97) * 1e-3);
    const options = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    // the step after t0: 512 flushes (a multiple of SUBNORMAL_FLUSH_EVERY), 501 does not
    const t0 = 32 * SUBNORMAL_FLUSH_EVERY - 1;
    const run = async (kernels: HeadKernels['native'], stepsBefore = t0) => {
      const w = tf.variable(tf.tensor1d(p0));
      const adam = new Adam(new Map([['w', w]]), ['w'], options, kernels);
      adam.setState({ t: stepsBefore, m: { w: tile(m0) }, v: { w: tile(v0) } }, 'test');
      const g = tf.tensor1d(tile(g0));
      adam.step(new Map([['w', g]]));
      const out = { p: w.dataSync().slice() as Float32Array, state: await adam.getState() };
      tf.dispose([w, g]);
      adam.dispose();
      return out;
    };
    const [viaTfjs, viaNative] = [await run(null), await run(native.native)];
    // (a first difference rather than toEqual: a diff of 40,000 values takes minutes to print)
    expect(firstDifference(viaNative.p, viaTfjs.p), 'p').toBe('none');
    expect(firstDifference(viaNative.state.m.w!, viaTfjs.state.m.w!), 'm').toBe('none');
    expect(firstDifference(viaNative.state.v.w!, viaTfjs.state.v.w!), 'v').toBe('none');
    const m = viaNative.state.m.w!;
    const v = viaNative.state.v.w!;
    // 0.9 x 1.1 MIN and the stuck ulps fall below MIN: +0, not -0 and not a subnormal
    for (const i of [0, 1, 3, 4]) expect(Object.is(m[i], 0), `m[${i}] = ${m[i]}`).toBe(true);
    expect(m[2]).toBe(Math.fround(Math.fround(1.2 * MIN) * Math.fround(0.9))); // 1.08 MIN stays
    expect(Object.is(v[1], 0) && Object.is(v[6], 0)).toBe(true); // 0.9995 MIN
    expect(v[2]).toBeGreaterThanOrEqual(MIN); // 1.001 MIN stays
    expect([...m, ...v].filter((x) => x !== 0 && Math.abs(x) < MIN)).toEqual([]);
    // the parameters equal PyTorch's unflushed step in float64, rounded to float32: a subnormal m moves nothing
    const t = t0 + 1;
    for (let i = 0; i < m0.length; i++) {
      const mt = 0.9 * Math.fround(m0[i]!) + 0.1 * g0[i]!;
      const vt = 0.999 * Math.fround(v0[i]!) + 0.001 * g0[i]! ** 2;
      const want = p0[i]! - (1e-3 / (1 - 0.9 ** t)) * (mt / (Math.sqrt(vt) / Math.sqrt(1 - 0.999 ** t) + 1e-8));
      expect(viaNative.p[i], `p[${i}]`).toBeCloseTo(Math.fround(want), 7);
      if (g0[i] === 0) expect(viaNative.p[i], `p[${i}] (dead)`).toBe(p0[i]);
    }
    // on the other steps both keep them, as torch does: 0.99 MIN stays a subnormal
    const [keptTfjs, keptNative] = [await run(null, 500), await run(native.native, 500)];
    expect(firstDifference(keptNative.state.m.w!, keptTfjs.state.m.w!), 'm (no flush)').toBe('none');
    expect(firstDifference(keptNative.p, keptTfjs.p), 'p (no flush)').toBe('none');
    for (let i = 0; i < m0.length; i++) if (g0[i] === 0) expect(keptNative.p[i], `p[${i}] (dead, no flush)`).toBe(p0[i]);
    expect(keptNative.state.m.w![0]).toBe(Math.fround(Math.fround(1.1 * MIN) * Math.fround(0.9)));
    expect(keptNative.state.m.w![0]).toBeLessThan(MIN);
  });

  it('sums squares (a gradient norm) in float64 over the thread split', () => {
    const rng = new Rng(4);
    const x = Float32Array.from({ length: 100_001 }, () => rng.normal());
    let want = 0;
    for (const v of x) want += v * v;
    expect(native.native!.sumSquares(x)).toBeCloseTo(want, 6);
    expect(native.native!.sumSquares(new Float32Array(0))).toBe(0);
  });

  it('says what was wrong', () => {
    const k = native.native!;
    const w = new Float32Array(6);
    expect(() => k.prepareDense(w, new Float32Array(3), 3, 3)).toThrow(/dense weights have 6 values, expected 3 x 3/);
    const l1 = k.prepareDense(w, new Float32Array(2), 3, 2);
    const l2 = k.prepareDense(new Float32Array(12), new Float32Array(3), 4, 3);
    expect(() => k.mlpForward(new Float32Array(3), 1, [l1, l2], false)).toThrow(/layer 1 takes 4 inputs, the layer before gives 2/);
    const { trace } = k.mlpForward(new Float32Array(3), 1, [l1], true);
    k.mlpBackward(trace!, new Float32Array(2), true);
    expect(() => k.mlpBackward(trace!, new Float32Array(2), true)).toThrow(/serves one backward pass/);
    const f = new Float32Array(4);
    expect(() => k.adamStep(f, f, f, new Float32Array(3), f, 1e-3, 0.9, 0.999, 1e-8, 1, false)).toThrow(/same length/);
    expect(() => (k.adamStep as (...args: unknown[]) => void)(f, f, f, f, f, 1e-3, 0.9, 0.999, 1e-8, 1)).toThrow(/adamStep's 'flush' must be a boolean/);
  });
});

describe.runIf(built)('an agent with its heads on libtorch', () => {
  beforeAll(() => useBackend('wasm'));
  const agents: CurlSacAgent[] = [];
  afterAll(() => agents.forEach((a) => a.dispose()));
  const S = 16;
  const C = 6;
  const spec: AgentSpec = { obsShape: [S, S, C], actionDim: 2 };
  const make = (heads: HeadEngineName) => {
    const config = tinyConfig({ convEngine: 'libtorch', numFilters: 6, hiddenDim: 24 });
    const agent = new CurlSacAgent(config, spec, 11, { ...agentCompute('libtorch', 1, 'wasm', 'fp32'), heads });
    agents.push(agent);
    return agent;
  };

  it('trains as its tfjs twin does, to rounding, and its checkpoint moves between the two', async () => {
    const run = async (agent: CurlSacAgent, from: number, to: number) => {
      const metrics: Array<Record<string, number>> = [];
      for (let i = from; i < to; i++) metrics.push(await agent.update(randomBatch(500 + i, 13, S, C, 2), i));
      return metrics;
    };
    const twin = make('tfjs');
    const native = make('libtorch');
    expect([twin.headEngine, native.headEngine]).toEqual(['tfjs', 'libtorch']);
    const live = tf.memory().numTensors;
    const [mt, mn] = [await run(twin, 0, 4), await run(native, 0, 4)];
    expect(tf.memory().numTensors).toBe(live);
    for (const [i, m] of mt.entries()) {
      for (const [k, v] of Object.entries(m)) expect(Math.abs(mn[i]![k]! - v) / (1 + Math.abs(v)), `${k} at update ${i}`).toBeLessThan(1e-4);
    }
    for (const name of twin.paramNames()) expect(worst(await native.readParam(name), await twin.readParam(name)), name).toBeLessThan(1e-4);

    // a checkpoint of the native agent resumes on a tfjs-heads agent and continues as the native one does
    const resumed = make('tfjs');
    resumed.setState(await native.getState());
    const [a, b] = [await run(resumed, 4, 6), await run(native, 4, 6)];
    for (const [i, m] of b.entries()) {
      for (const [k, v] of Object.entries(m)) expect(Math.abs(a[i]![k]! - v) / (1 + Math.abs(v)), `${k} after resume`).toBeLessThan(1e-4);
    }
  });

  it('runs the same numbers twice under one seed', async () => {
    const once = async () => {
      const agent = make('libtorch');
      const m = [];
      for (let i = 0; i < 3; i++) m.push(await agent.update(randomBatch(700 + i, 9, S, C, 2), i));
      return m;
    };
    expect(await once()).toEqual(await once());
  });
});

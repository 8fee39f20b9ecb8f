/*
 * The aux objectives inside the agent (tfjs conv engine, as tinyConfig pins;
 * the last block repeats the two-view ones on libtorch where it is built).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agent.js';
import type { AgentConfig, AgentState } from '../../agents/index.js';
import type { AgentBuildConfig } from '../../src/agent.js';
import { loadConvAddon } from '../../agents/native/addon.js';
import type { Batch } from '../../replay/types.js';
import { readMsgpackFile, writeMsgpackFile } from '../../src/loop/checkpoint.js';
import { randomBatch, relErr, texturedBatch, tinyConfig, updateCapturing, useBackend } from './helpers.js';

afterAll(async () => useBackend('wasm'));

const SIZE = 16;
const PAD = 4;
const LAYERS = 2;
const spec = { obsShape: [SIZE, SIZE, 3] as [number, number, number], actionDim: 2 };
const ENCODER = ['conv.w0', 'conv.b0', 'conv.w1', 'conv.b1', 'critic.fc.w', 'critic.fc.b', 'critic.ln.g', 'critic.ln.b'];
const mlp2 = (p: string) => [`${p}.w0`, `${p}.b0`, `${p}.w1`, `${p}.b1`];
const OWN: Record<string, string[]> = {
  curl: ['curl.W'], 'curl-debiased': ['curl.W'], 'curl-hard': ['curl.W'],
  simclr: mlp2('simclr'), byol: [...mlp2('byol.proj'), ...mlp2('byol.pred')], barlow: mlp2('barlow'),
  'soft-nn': [], 'memory-bank': [], mochi: [], swav: [...mlp2('swav'), 'swav.prototypes'],
};
const AUX_PARAM = /^(target\.)?(curl|simclr|byol|barlow|swav)\./;
const ALL = ['curl', 'curl-debiased', 'curl-hard', 'simclr', 'byol', 'barlow', 'soft-nn', 'memory-bank', 'mochi', 'swav'] as const;
/** The objectives that log an accuracy (the others log alignment and uniformity). */
const WITH_ACCURACY = new Set<string>(['curl', 'curl-debiased', 'curl-hard', 'simclr', 'soft-nn', 'memory-bank', 'mochi', 'swav']);
/** The objectives that read --aux-queue, and the prefix of their queue's state. */
const QUEUED: Record<string, string> = { curl: 'curl', 'curl-debiased': 'curl', 'curl-hard': 'curl', mochi: 'mochi' };

function cfg(aux: AgentConfig['aux'], over: Partial<AgentBuildConfig> = {}): AgentBuildConfig {
  return tinyConfig({ aux, numFilters: 8, latentDim: 8, numConvLayers: LAYERS, auxHiddenDim: 12, auxProjDim: 6, ...over });
}

describe("aux 'curl' after the move to agents/aux", () => {
  it('gives the numbers main gave before it (commit e942867, same tiny agent and batches)', async () => {
    await useBackend('wasm');
    const agent = createAgent(tinyConfig({ aux: 'curl' }), { obsShape: [12, 12, 3], actionDim: 2 }, 5);
    const got: Array<Record<string, number>> = [];
    for (let i = 0; i < 3; i++) got.push(await agent.update(randomBatch(40 + i, 8, 12, 3, 2), i));
    const st = await agent.getState();
    agent.dispose();
    // this agent's numbers on wasm, compared to 6 decimals so that other machines' wasm builds match too
    const want = [
      { criticLoss: 0.4021494388580322, curlLoss: 2.501465320587158, curlAccuracy: 0.125, curlGradNorm: 2.6190390586853027 },
      { criticLoss: 0.19133713841438293, curlLoss: 2.6500232219696045, curlAccuracy: 0.25, curlGradNorm: 5.060571193695068 },
      { criticLoss: 0.49721571803092957, curlLoss: 2.1857454776763916, curlAccuracy: 0.125, curlGradNorm: 1.8391436338424683 },
    ];
    want.forEach((w, i) => {
      for (const [k, v] of Object.entries(w)) expect(got[i]![k], `update ${i} ${k}`).toBeCloseTo(v, 6);
    });
    expect(Array.from(st.params['curl.W']!.data.slice(0, 4))).toEqual([0.11419705301523209, 0.899372935295105, 0.2851230204105377, 0.8604505658149719].map(Math.fround));
    let sum = 0;
    for (const r of Object.values(st.params)) for (const v of r.data) sum += v;
    expect(sum).toBeCloseTo(47.76577651077923, 4);
  });
});

describe('aux parameters, optimizers and gradients', () => {
  it("'none' builds no aux parameter, optimizer or state", async () => {
    await useBackend('wasm');
    const agent = createAgent(cfg('none'), spec, 1);
    expect(agent.paramNames().filter((n) => AUX_PARAM.test(n))).toEqual([]);
    const st = await agent.getState();
    expect(Object.keys(st.optimizers).sort()).toEqual(['actor', 'alpha', 'critic']);
    expect(st.auxState).toBeUndefined();
    const m = await agent.update(randomBatch(1, 4, SIZE, 3, 2, false), 0);
    expect(Object.keys(m).filter((k) => k.startsWith('aux') || k.startsWith('curl'))).toEqual([]);
    agent.dispose();
  });

  for (const aux of ALL) {
    it(`${aux}: its own parameters only; the gradient reaches exactly the encoder + them (no target, no key encoder), every one nonzero`, async () => {
      await useBackend('wasm');
      // no EMA in these steps (step % 1000 != 0), so target.* must not move at all
      const agent = createAgent(cfg(aux, { criticTargetUpdateFreq: 1000, actorUpdateFreq: 1000 }), spec, 3);
      // the memory bank has nothing to compare a first visit with: one update fills it
      if (aux === 'memory-bank') await agent.update(texturedBatch(19, 8, SIZE, PAD, 2), 3);
      const own = agent.paramNames().filter((n) => AUX_PARAM.test(n));
      expect(own.sort()).toEqual([...OWN[aux]!, ...(aux === 'byol' ? mlp2('target.byol.proj') : [])].sort());
      for (const step of [1, 2]) {
        const { before, after, grads, metrics } = await updateCapturing(agent, texturedBatch(20 + step, 8, SIZE, PAD, 2), step);
        expect([...grads.keys()].sort()).toEqual([...ENCODER, ...OWN[aux]!].sort());
        for (const [n, g] of grads) {
          // Barlow's last bias is removed by the batch normalisation: its gradient is 0 up to rounding
          if (n === 'barlow.b1') expect(Math.hypot(...g)).toBeLessThan(1e-3 * Math.hypot(...grads.get('barlow.w1')!));
          // soft-nn reads differences of latents only, which the LayerNorm's shared bias cancels from
          else if (aux === 'soft-nn' && n === 'critic.ln.b') expect(Math.hypot(...g)).toBeLessThan(1e-3 * Math.hypot(...grads.get('critic.ln.g')!));
          else expect(Math.hypot(...g), n).toBeGreaterThan(1e-6);
        }
        for (const n of Object.keys(before.params)) {
          if (n.startsWith('target.')) expect(after.params[n]!.data, n).toEqual(before.params[n]!.data);
        }
        // an aux-only parameter moves by the aux Adam only
        for (const n of OWN[aux]!) expect(after.params[n]!.data).not.toEqual(before.params[n]!.data);
        const prefix = aux.startsWith('curl') ? 'curl' : 'aux';
        expect(Number.isFinite(metrics[`${prefix}Loss`])).toBe(true);
        if (WITH_ACCURACY.has(aux)) expect(metrics[`${prefix}Accuracy`]).toBeGreaterThanOrEqual(0);
        else {
          expect(metrics.auxAlignment).toBeGreaterThanOrEqual(0);
          expect(metrics.auxUniformity).toBeLessThanOrEqual(0);
        }
      }
      agent.dispose();
    }, 30_000);
  }

  it('every objective keeps the live tensor count flat across updates', async () => {
    await useBackend('wasm');
    for (const aux of ALL) {
      const agent = createAgent(cfg(aux, { auxQueue: aux in QUEUED ? 7 : 0 }), spec, 5);
      await agent.update(randomBatch(1, 6, SIZE, 3, 2), 0);
      const n = tf.memory().numTensors;
      for (let i = 1; i < 5; i++) await agent.update(randomBatch(1 + i, 6, SIZE, 3, 2), i);
      expect(tf.memory().numTensors, aux).toBe(n);
      agent.dispose();
    }
  }, 30_000);

  it('rejects a queue for a non-CURL objective and a non-positive temperature', () => {
    expect(() => createAgent(cfg('simclr', { auxQueue: 4 }), spec, 1)).toThrow(/auxQueue 4 .* needs aux curl, curl-debiased, curl-hard, nce, mochi, not 'simclr'/);
    expect(() => createAgent(cfg('simclr', { auxTemperature: -0.1 }), spec, 1)).toThrow(/auxTemperature -0.1 is invalid for aux 'simclr': Number must be greater than 0/);
  });
});

/**
 * The two-view objectives' gradients written out from their definitions with
 * plain tfjs ops (nothing shared with the agent), taken by autodiff through
 * BOTH views' online encoder passes: the agent gets the positive view's conv
 * gradient from a second anchor pass, which this checks.
 */
type P = Record<string, tf.Tensor>;
function encode(obs: Uint8Array, b: number, p: P, prefix: string): tf.Tensor2D {
  let a = tf.div(tf.tensor4d(obs, [b, SIZE, SIZE, 3], 'float32'), 255) as tf.Tensor4D;
  for (let l = 0; l < LAYERS; l++) {
    a = tf.relu(tf.add(tf.conv2d(a, p[`${prefix}conv.w${l}`] as tf.Tensor4D, l === 0 ? 2 : 1, 'valid'), p[`${prefix}conv.b${l}`]!)) as tf.Tensor4D;
  }
  const u = tf.add(tf.matMul(tf.reshape(a, [b, -1]) as tf.Tensor2D, p[`${prefix}critic.fc.w`] as tf.Tensor2D), p[`${prefix}critic.fc.b`]!);
  const mean = tf.mean(u, 1, true);
  const variance = tf.mean(tf.square(tf.sub(u, mean)), 1, true);
  return tf.add(tf.mul(tf.div(tf.sub(u, mean), tf.sqrt(tf.add(variance, 1e-5))), p[`${prefix}critic.ln.g`]!), p[`${prefix}critic.ln.b`]!) as tf.Tensor2D;
}
const mlp = (x: tf.Tensor2D, p: P, q: string) =>
  tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, p[`${q}.w0`] as tf.Tensor2D), p[`${q}.b0`]!)) as tf.Tensor2D, p[`${q}.w1`] as tf.Tensor2D), p[`${q}.b1`]!) as tf.Tensor2D;
const unitRows = (x: tf.Tensor2D) => tf.div(x, tf.norm(x, 'euclidean', 1, true)) as tf.Tensor2D;

function referenceLoss(aux: string, p: P, target: P, batch: Batch): tf.Scalar {
  const b = batch.batchSize;
  const z1 = encode(batch.obs, b, p, '');
  const z2 = encode(batch.obsPositive!, b, p, '');
  if (aux === 'simclr') {
    const h = unitRows(tf.concat([mlp(z1, p, 'simclr'), mlp(z2, p, 'simclr')]));
    const s = tf.div(tf.matMul(h, h, false, true), 0.1);
    const eye = tf.eye(2 * b);
    const lse = tf.log(tf.sum(tf.mul(tf.exp(s), tf.sub(1, eye)), 1));
    const partner = tf.concat([tf.concat([tf.zeros([b, b]), tf.eye(b)], 1), tf.concat([tf.eye(b), tf.zeros([b, b])], 1)]);
    return tf.mean(tf.sub(lse, tf.sum(tf.mul(s, partner), 1))) as tf.Scalar;
  }
  if (aux === 'soft-nn') {
    // squared distances / L (L = 8) at the default temperature 0.2
    const z = tf.concat([z1, z2]);
    const sq = tf.sum(tf.square(z), 1, true);
    const s = tf.div(tf.sub(tf.add(sq, tf.transpose(sq)), tf.mul(tf.matMul(z, z, false, true), 2)), -8 * 0.2);
    const eye = tf.eye(2 * b);
    const lse = tf.log(tf.sum(tf.mul(tf.exp(s), tf.sub(1, eye)), 1));
    const partner = tf.concat([tf.concat([tf.zeros([b, b]), tf.eye(b)], 1), tf.concat([tf.eye(b), tf.zeros([b, b])], 1)]);
    return tf.mean(tf.sub(lse, tf.sum(tf.mul(s, partner), 1))) as tf.Scalar;
  }
  if (aux === 'swav') {
    // Sinkhorn-Knopp (epsilon 0.05, 3 iterations) on plain numbers: the codes are constants
    const codes = (scores: tf.Tensor2D): tf.Tensor2D => {
      const sc = scores.arraySync();
      const [n, k] = [sc.length, sc[0]!.length];
      let q = sc.map((r) => r.map((x) => Math.exp(x / 0.05)));
      const total = q.flat().reduce((a, x) => a + x, 0);
      q = q.map((r) => r.map((x) => x / total));
      for (let it = 0; it < 3; it++) {
        const cols = Array.from({ length: k }, (_, c) => q.reduce((a, r) => a + r[c]!, 0));
        q = q.map((r) => r.map((x, c) => x / cols[c]! / k));
        q = q.map((r) => r.map((x) => x / r.reduce((a, y) => a + y, 0) / n));
      }
      return tf.tensor2d(q.map((r) => r.map((x) => x * n)));
    };
    const scores = [z1, z2].map((z) => tf.matMul(unitRows(mlp(z, p, 'swav')), p['swav.prototypes'] as tf.Tensor2D, false, true) as tf.Tensor2D);
    const [q1, q2] = scores.map(codes);
    const ce = (q: tf.Tensor2D, s: tf.Tensor2D) => tf.neg(tf.mean(tf.sum(tf.mul(q, tf.logSoftmax(tf.div(s, 0.1))), 1)));
    return tf.div(tf.add(ce(q1!, scores[1]!), ce(q2!, scores[0]!)), 2) as tf.Scalar;
  }
  if (aux === 'byol') {
    const t1 = mlp(encode(batch.obs, b, target, 'target.'), target, 'target.byol.proj');
    const t2 = mlp(encode(batch.obsPositive!, b, target, 'target.'), target, 'target.byol.proj');
    const p1 = mlp(mlp(z1, p, 'byol.proj'), p, 'byol.pred');
    const p2 = mlp(mlp(z2, p, 'byol.proj'), p, 'byol.pred');
    const cos = (x: tf.Tensor2D, y: tf.Tensor2D) => tf.sum(tf.mul(unitRows(x), unitRows(y)), 1);
    return tf.mean(tf.add(tf.sub(2, tf.mul(cos(p1, t2), 2)), tf.sub(2, tf.mul(cos(p2, t1), 2)))) as tf.Scalar;
  }
  // barlow, lambda 5e-3 at 8192 -> 5e-3 * 8192 / 6 at D = 6
  const bn = (x: tf.Tensor2D) => {
    const m = tf.mean(x, 0, true);
    return tf.div(tf.sub(x, m), tf.sqrt(tf.add(tf.mean(tf.square(tf.sub(x, m)), 0, true), 1e-5)));
  };
  const c = tf.div(tf.matMul(bn(mlp(z1, p, 'barlow')), bn(mlp(z2, p, 'barlow')), true, false), b);
  const eye = tf.eye(6);
  const on = tf.sum(tf.square(tf.sub(1, tf.sum(tf.mul(c, eye), 1))));
  const off = tf.sum(tf.square(tf.mul(c, tf.sub(1, eye))));
  return tf.add(on, tf.mul(off, (5e-3 * 8192) / 6)) as tf.Scalar;
}

function referenceGrads(aux: string, before: AgentState, after: AgentState, batch: Batch, names: string[]): { loss: number; grads: Map<string, Float32Array> } {
  tf.engine().startScope();
  try {
    const all: P = {};
    for (const [n, r] of Object.entries(before.params)) all[n] = tf.tensor(r.data, r.shape, 'float32');
    // the target branch as the aux step sees it: after this update's EMA
    const target: P = {};
    for (const [n, r] of Object.entries(after.params)) if (n.startsWith('target.')) target[n] = tf.tensor(r.data, r.shape, 'float32');
    const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) =>
      referenceLoss(aux, { ...all, ...Object.fromEntries(names.map((n, i) => [n, ps[i]!])) }, target, batch))(names.map((n) => all[n]!));
    return { loss: value.dataSync()[0]!, grads: new Map(names.map((n, i) => [n, (grads[i]!.dataSync() as Float32Array).slice()])) };
  } finally {
    tf.engine().endScope();
  }
}

describe('two-view gradients against an independent autodiff', () => {
  for (const aux of ['simclr', 'byol', 'barlow', 'soft-nn', 'swav'] as const) {
    it(`${aux}: loss and every gradient (through both views' convs) at the start-of-update parameters`, async () => {
      await useBackend('wasm');
      const agent = createAgent(cfg(aux, { encoderTau: 0.3, ...(aux === 'swav' ? { auxPrototypes: 5 } : {}) }), spec, 11);
      const checks = [];
      // step 2 runs the target EMA first (BYOL's target branch must be the updated one)
      for (const step of [1, 2]) {
        const batch = texturedBatch(60 + step, 6, SIZE, PAD, 2);
        checks.push({ batch, ...(await updateCapturing(agent, batch, step)) });
      }
      agent.dispose();
      await useBackend('cpu');
      const names = [...ENCODER, ...OWN[aux]!];
      for (const { batch, before, after, grads, metrics } of checks) {
        const ref = referenceGrads(aux, before, after, batch, names);
        expect(metrics.auxLoss).toBeCloseTo(ref.loss, 3);
        for (const n of names) {
          // zero by construction (batch norm; soft-nn's differences of latents), checked above
          if (n === 'barlow.b1' || (aux === 'soft-nn' && n === 'critic.ln.b')) continue;
          expect(Math.hypot(...ref.grads.get(n)!), n).toBeGreaterThan(1e-5);
          expect(relErr(grads.get(n)!, ref.grads.get(n)!), n).toBeLessThan(3e-3);
        }
      }
    }, 60_000);
  }
});

describe('BYOL target projector', () => {
  it('follows the online projector by EMA at the encoder rate, when the target encoder does', async () => {
    await useBackend('wasm');
    const tau = 0.3;
    const agent = createAgent(cfg('byol', { encoderTau: tau, criticTargetUpdateFreq: 2 }), spec, 2);
    for (const step of [0, 1]) {
      const before = await agent.getState();
      await agent.update(texturedBatch(5 + step, 6, SIZE, PAD, 2), step);
      const after = await agent.getState();
      for (const n of mlp2('byol.proj')) {
        const on = before.params[n]!.data;
        const tg = before.params[`target.${n}`]!.data;
        const got = after.params[`target.${n}`]!.data;
        if (step === 0) got.forEach((v, i) => expect(v, n).toBeCloseTo(tau * on[i]! + (1 - tau) * tg[i]!, 6));
        else expect(got).toEqual(tg); // step 1 is not a target step
      }
      // and in step with the target encoder
      const enc = 'critic.fc.w';
      const moved = after.params[`target.${enc}`]!.data.some((v, i) => v !== before.params[`target.${enc}`]!.data[i]);
      expect(moved).toBe(step === 0);
    }
    agent.dispose();
  });
});

describe('determinism and resume', () => {
  const variants: Array<[string, Partial<AgentBuildConfig>]> = [
    ...ALL.map((a) => [a, {}] as [string, Partial<AgentBuildConfig>]),
    ['curl', { auxQueue: 5 }],
    ['curl-hard', { auxQueue: 5, auxTauPlus: 0.1, auxBeta: 0.5 }],
    ['mochi', { auxQueue: 5, auxHardNegatives: 4, auxMixes: 3, auxQueryMixes: 2 }],
    ['memory-bank', { auxBankNegatives: 4 }],
    ['swav', { auxPrototypes: 5, auxSinkhornIters: 4 }],
  ];
  for (const [aux, over] of variants) {
    it(`${aux} ${JSON.stringify(over)}: same seed twice gives identical metrics; a saved and restored state (through msgpack) gives the identical next update`, async () => {
      await useBackend('wasm');
      const make = (seed: number) => createAgent(cfg(aux as AgentConfig['aux'], over), spec, seed);
      const batches = [0, 1, 2, 3].map((i) => texturedBatch(80 + i, 6, SIZE, PAD, 2));
      const a = make(4);
      const b = make(4);
      for (let i = 0; i < 3; i++) expect(await a.update(batches[i]!, i)).toEqual(await b.update(batches[i]!, i));
      b.dispose();
      const dir = mkdtempSync(join(tmpdir(), 'aux-state-'));
      try {
        writeMsgpackFile(join(dir, 'agent.msgpack'), await a.getState());
        const c = make(99);
        c.setState(readMsgpackFile<AgentState>(join(dir, 'agent.msgpack')));
        const stA = await a.getState();
        if (over.auxQueue) expect(stA.auxState?.[`${QUEUED[aux]}.queueSizePtr`]?.data[0]).toBe(5); // 3 updates x 6 keys fill it
        if (aux === 'memory-bank') expect(stA.auxState?.['memory-bank.filled']?.data.slice(0, 7)).toEqual(Float32Array.from([0, 1, 2, 3, 4, 5, -1]));
        expect(await c.update(batches[3]!, 3)).toEqual(await a.update(batches[3]!, 3));
        const [sa, sc] = [await a.getState(), await c.getState()];
        expect(sc.params).toEqual(sa.params);
        expect(sc.optimizers).toEqual(sa.optimizers);
        expect(sc.auxState).toEqual(sa.auxState);
        c.dispose();
      } finally {
        rmSync(dir, { recursive: true, force: true });
        a.dispose();
      }
    }, 30_000);
  }

  it('refuses a state whose queue does not match', async () => {
    await useBackend('wasm');
    const a = createAgent(cfg('curl', { auxQueue: 5 }), spec, 1);
    const b = createAgent(cfg('curl', { auxQueue: 0 }), spec, 1);
    await a.update(texturedBatch(1, 6, SIZE, PAD, 2), 0);
    const st = await a.getState();
    expect(() => b.setState(st)).toThrow(/key queue of 5 but this agent has --aux-queue 0/);
    a.dispose();
    b.dispose();
  });
});

const built = loadConvAddon().available;
describe('aux objectives on the libtorch engine', () => {
  it.runIf(built)('simclr, byol, barlow, swav, and curl-hard and mochi with a queue match the tfjs engine (to 5e-4 relative over 3 updates: float rounding, amplified by Barlow at batch 6)', async () => {
    await useBackend('wasm');
    const runs: Array<readonly [string, Partial<AgentBuildConfig>]> = [
      ['simclr', {}], ['byol', {}], ['barlow', {}], ['swav', { auxPrototypes: 5 }], ['curl-hard', { auxQueue: 4 }], ['mochi', { auxQueue: 4 }],
    ];
    for (const [aux, over] of runs) {
      const t = createAgent(cfg(aux, over), spec, 7);
      const l = createAgent(cfg(aux, { ...over, convEngine: 'libtorch' }), spec, 7);
      expect(l.convEngine.engine).toBe('libtorch');
      for (let i = 0; i < 3; i++) {
        const batch = texturedBatch(30 + i, 6, SIZE, PAD, 2);
        const [mt, ml] = [await t.update(batch, i), await l.update(batch, i)];
        for (const k of Object.keys(mt)) expect(Math.abs(ml[k]! - mt[k]!), `${aux} ${k}`).toBeLessThan(5e-4 * Math.max(1, Math.abs(mt[k]!)));
      }
      t.dispose();
      l.dispose();
    }
  }, 60_000);
});

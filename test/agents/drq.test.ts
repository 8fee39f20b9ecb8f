import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agent.js';
import { loadConvAddon } from '../../agents/native/addon.js';
import type { AgentState, CurlSacAgent } from '../../agents/index.js';
import * as L from '../../agents/losses.js';
import { actorForward, qForward } from '../../agents/networks.js';
import { mlpParams } from '../../agents/params.js';
import type { Batch } from '../../replay/types.js';
import { Rng } from '../../src/core/rng.js';
import { copyGrads, relErr, textureImage, tinyConfig, useBackend } from './helpers.js';

afterAll(async () => useBackend('wasm'));

const SIZE = 16;
const LAYERS = 2;
const A = 2;
const B = 6;
const CRITIC_PARAMS = [
  'conv.w0', 'conv.b0', 'conv.w1', 'conv.b1', 'critic.fc.w', 'critic.fc.b', 'critic.ln.g', 'critic.ln.b',
  'q1.w0', 'q1.b0', 'q1.w1', 'q1.b1', 'q1.w2', 'q1.b2', 'q2.w0', 'q2.b0', 'q2.w1', 'q2.b1', 'q2.w2', 'q2.b2',
];

/** B textured images per view, `views` views, view-major. */
function views(rng: Rng, n: number): Uint8Array {
  const one = SIZE * SIZE * 3;
  const out = new Uint8Array(n * B * one);
  for (let i = 0; i < n * B; i++) out.set(textureImage(rng, SIZE), i * one);
  return out;
}

function drqBatch(seed: number, M: number, K: number): Batch {
  const rng = new Rng(seed);
  return {
    batchSize: B, size: SIZE, channels: 3, actionDim: A,
    obs: views(rng, M), obsPositive: views(rng, 1), nextObs: views(rng, K),
    ...(M > 1 ? { obsViews: M } : {}), ...(K > 1 ? { nextViews: K } : {}),
    action: new Float32Array(B * A).map(() => rng.uniform() * 2 - 1),
    reward: new Float32Array(B).map(() => rng.uniform()),
    notDone: Float32Array.from({ length: B }, (_, i) => (i === 2 ? 0 : 1)),
  };
}

/** The encoder written out with plain tfjs ops: x/255, convs 3x3 (stride 2, 1) + ReLU, flatten, dense, LayerNorm (eps 1e-5). */
function encode(images: Uint8Array, rows: number, p: Record<string, tf.Tensor>, prefix: string): tf.Tensor2D {
  let a = tf.div(tf.tensor4d(images, [rows, SIZE, SIZE, 3], 'float32'), 255) as tf.Tensor4D;
  for (let l = 0; l < LAYERS; l++) a = tf.relu(tf.add(tf.conv2d(a, p[`${prefix}conv.w${l}`] as tf.Tensor4D, l === 0 ? 2 : 1, 'valid'), p[`${prefix}conv.b${l}`]!)) as tf.Tensor4D;
  const u = tf.add(tf.matMul(tf.reshape(a, [rows, -1]) as tf.Tensor2D, p[`${prefix}critic.fc.w`] as tf.Tensor2D), p[`${prefix}critic.fc.b`]!);
  const mean = tf.mean(u, 1, true);
  const variance = tf.mean(tf.square(tf.sub(u, mean)), 1, true);
  const z = tf.div(tf.sub(u, mean), tf.sqrt(tf.add(variance, 1e-5)));
  return tf.add(tf.mul(z, p[`${prefix}critic.ln.g`]!), p[`${prefix}critic.ln.b`]!) as tf.Tensor2D;
}

/** The actor's encoder head on the online convs (its own dense + LayerNorm). */
function encodeActor(images: Uint8Array, rows: number, p: Record<string, tf.Tensor>): tf.Tensor2D {
  const q: Record<string, tf.Tensor> = { ...p };
  for (const n of ['fc.w', 'fc.b', 'ln.g', 'ln.b']) q[`critic.${n}`] = p[`actor.${n}`]!;
  return encode(images, rows, q, '');
}

function view(images: Uint8Array, v: number): Uint8Array {
  const one = B * SIZE * SIZE * 3;
  return images.subarray(v * one, (v + 1) * one);
}

/**
 * DrQ eq. 2-3 by hand: the target of each next view k on its own (noise rows
 * k B .. k B + B - 1 of the update's draws), averaged; the Q loss of each obs
 * view m on its own against that average, averaged; autodiff over the critic.
 */
function reference(state: AgentState, batch: Batch, M: number, K: number, discount: number) {
  tf.engine().startScope();
  try {
    const p: Record<string, tf.Tensor> = {};
    for (const [name, rec] of Object.entries(state.params)) p[name] = tf.tensor(rec.data, rec.shape, 'float32');
    const P = new Map(Object.entries(p));
    const rng = Rng.fromState(state.rng);
    const noise = Float32Array.from({ length: K * B * A }, () => rng.normal());
    const reward = tf.tensor2d(batch.reward, [B, 1]);
    const notDone = tf.tensor2d(batch.notDone, [B, 1]);
    const action = tf.tensor2d(batch.action, [B, A]);
    const alpha = tf.exp(p.logAlpha!) as tf.Scalar;
    const targets: tf.Tensor2D[] = [];
    for (let k = 0; k < K; k++) {
      const next = view(batch.nextObs, k);
      const { mu, logStdRaw } = actorForward(encodeActor(next, B, p), mlpParams(P, 'actor'), A);
      const pol = L.tanhGaussian(mu, logStdRaw, tf.tensor2d(noise.subarray(k * B * A, (k + 1) * B * A), [B, A]), -10, 2);
      const zT = encode(next, B, p, 'target.');
      targets.push(L.criticTarget(reward, notDone, qForward(zT, pol.action, mlpParams(P, 'target.q1')), qForward(zT, pol.action, mlpParams(P, 'target.q2')), pol.logPi, alpha, discount));
    }
    const y = tf.div(tf.addN(targets), K) as tf.Tensor2D;
    const lossOf = (...ps: tf.Tensor[]): tf.Scalar => {
      const q: Record<string, tf.Tensor> = { ...p, ...Object.fromEntries(CRITIC_PARAMS.map((n, i) => [n, ps[i]!])) };
      const Q = new Map(Object.entries(q));
      const losses: tf.Scalar[] = [];
      for (let m = 0; m < M; m++) {
        const z = encode(view(batch.obs, m), B, q, '');
        losses.push(L.criticLoss(qForward(z, action, mlpParams(Q, 'q1')), qForward(z, action, mlpParams(Q, 'q2')), y));
      }
      return tf.div(tf.addN(losses), M) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(lossOf)(CRITIC_PARAMS.map((n) => p[n]!));
    return {
      y: Array.from(y.dataSync()),
      perViewTargets: targets.map((t) => Array.from(t.dataSync())),
      loss: value.dataSync()[0]!,
      grads: new Map(CRITIC_PARAMS.map((n, i) => [n, (grads[i]!.dataSync() as Float32Array).slice()])),
    };
  } finally {
    tf.engine().endScope();
  }
}

async function capture(agent: CurlSacAgent, batch: Batch, step: number) {
  const before = await agent.getState();
  let critic: Map<string, Float32Array> | null = null;
  let curl: Map<string, Float32Array> | null = null;
  agent.onCriticGradients = (g) => (critic = copyGrads(g));
  agent.onAuxGradients = (g) => (curl = copyGrads(g));
  const metrics = await agent.update(batch, step);
  agent.onCriticGradients = null;
  agent.onAuxGradients = null;
  return { before, metrics, critic: critic as unknown as Map<string, Float32Array>, curl: curl as Map<string, Float32Array> | null };
}

describe('DrQ target and Q-loss averaging (--aug-k, --aug-m)', () => {
  it('target = average of K per-view targets; Q loss and its gradient = average over M views, on a tiny critic', async () => {
    await useBackend('wasm');
    const cfg = tinyConfig({ numFilters: 4, latentDim: 6, numConvLayers: LAYERS, hiddenDim: 16 });
    const results: Array<{ M: number; K: number; batch: Batch } & Awaited<ReturnType<typeof capture>>> = [];
    for (const [M, K, step] of [[1, 1, 1], [1, 3, 1], [2, 1, 1], [2, 3, 1], [3, 2, 0]] as const) {
      const agent = createAgent(cfg, { obsShape: [SIZE, SIZE, 3], actionDim: A }, 3);
      const batch = drqBatch(40 + M * 10 + K, M, K);
      const before = tf.memory().numTensors;
      results.push({ M, K, batch, ...(await capture(agent, batch, step)) });
      // a second update (actor and EMA on step 0 and 2) leaks nothing either
      await agent.update(batch, step + 1);
      expect(tf.memory().numTensors).toBe(before);
      agent.dispose();
    }
    await useBackend('cpu');
    for (const { M, K, batch, before, metrics, critic } of results) {
      const ref = reference(before, batch, M, K, cfg.discount);
      const label = `M=${M} K=${K}`;
      // the K targets really differ (otherwise averaging would be untested)
      if (K > 1) expect(Math.max(...ref.perViewTargets[0]!.map((v, i) => Math.abs(v - ref.perViewTargets[1]![i]!))), label).toBeGreaterThan(1e-4);
      expect(metrics.targetQ!, label).toBeCloseTo(ref.y.reduce((a, v) => a + v, 0) / B, 5);
      expect(metrics.criticLoss!, label).toBeCloseTo(ref.loss, 5);
      expect([...critic.keys()].sort(), label).toEqual([...CRITIC_PARAMS].sort());
      for (const name of CRITIC_PARAMS) {
        const r = ref.grads.get(name)!;
        expect(Math.hypot(...r), `${label} ${name}`).toBeGreaterThan(1e-6);
        expect(relErr(critic.get(name)!, r), `${label} ${name}`).toBeLessThan(2e-3);
      }
    }
  }, 120_000);

  it.each(['curl', 'curl-hard', 'simclr', 'byol', 'barlow'] as const)("with M > 1, the aux loss (%s) and the actor still read view 0: its gradient equals the M = 1 update's on the same anchor and positive", async (aux) => {
    await useBackend('wasm');
    const cfg = tinyConfig({ aux, numFilters: 4, latentDim: 6, numConvLayers: LAYERS, hiddenDim: 16, auxHiddenDim: 8, auxProjDim: 5 });
    const two = drqBatch(77, 2, 2);
    const one: Batch = { ...two, obs: view(two.obs, 0), nextObs: view(two.nextObs, 0), obsViews: 1, nextViews: 1 };
    const grads: Array<Map<string, Float32Array>> = [];
    for (const batch of [one, two]) {
      const agent = createAgent(cfg, { obsShape: [SIZE, SIZE, 3], actionDim: A }, 4);
      // step 1: no EMA, so the keys' encoder is the same in both; CURL is taken at start-of-update parameters
      grads.push((await capture(agent, batch, 1)).curl!);
      agent.dispose();
    }
    for (const [name, g] of grads[0]!) expect(relErr(grads[1]!.get(name)!, g), name).toBeLessThan(1e-5);
  }, 60_000);

  it('the tfjs worker shards and the libtorch engine give the single-thread numbers for K = M = 2, without leaking tensors', async () => {
    await useBackend('wasm');
    const run = async (overrides: Parameters<typeof tinyConfig>[0]) => {
      const agent = createAgent(tinyConfig({ numFilters: 4, latentDim: 6, numConvLayers: LAYERS, hiddenDim: 16, microBatch: 5, ...overrides }), { obsShape: [SIZE, SIZE, 3], actionDim: A }, 8);
      const out: Array<Record<string, number>> = [await agent.update(drqBatch(300, 2, 2), 0)];
      const live = tf.memory().numTensors;
      for (let i = 1; i < 4; i++) out.push(await agent.update(drqBatch(300 + i, 2, 2), i));
      expect(tf.memory().numTensors).toBe(live);
      agent.dispose();
      return out;
    };
    const single = await run({ convWorkers: 0 });
    const others = [await run({ convWorkers: 1 })];
    if (loadConvAddon().available) others.push(await run({ convEngine: 'libtorch', convWorkers: 0 }));
    for (const other of others) {
      for (let i = 0; i < single.length; i++) for (const k of Object.keys(single[i]!)) expect(other[i]![k], `${i} ${k}`).toBeCloseTo(single[i]![k]!, 4);
    }
  }, 120_000);
});

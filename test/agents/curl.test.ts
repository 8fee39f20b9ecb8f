import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agent.js';
import type { AgentState } from '../../agents/index.js';
import type { Batch } from '../../replay/types.js';
import { Rng } from '../../src/core/rng.js';
import { cropInto, relErr, textureImage, texturedBatch, tinyConfig, updateCapturing, useBackend } from './helpers.js';

afterAll(async () => useBackend('wasm'));

const SIZE = 16;
const PAD = 4;
const LAYERS = 2;
const CURL_PARAMS = ['conv.w0', 'conv.b0', 'conv.w1', 'conv.b1', 'critic.fc.w', 'critic.fc.b', 'critic.ln.g', 'critic.ln.b', 'curl.W'];

/**
 * The reference's CURL computation written out from its definition with
 * plain tfjs ops (no code shared with the agent): encoder = obs/255, convs
 * 3x3 (stride 2 then 1) each followed by ReLU, flatten, dense, LayerNorm
 * (eps 1e-5); queries from the online encoder, keys from the target encoder;
 * logits = z_a W z_pos^T; loss = mean cross-entropy against the diagonal.
 */
function encode(obs: Uint8Array, b: number, p: Record<string, tf.Tensor>, prefix: string): { h: tf.Tensor2D; z: tf.Tensor2D } {
  let a = tf.div(tf.tensor4d(obs, [b, SIZE, SIZE, 3], 'float32'), 255) as tf.Tensor4D;
  for (let l = 0; l < LAYERS; l++) {
    a = tf.relu(tf.add(tf.conv2d(a, p[`${prefix}conv.w${l}`] as tf.Tensor4D, l === 0 ? 2 : 1, 'valid'), p[`${prefix}conv.b${l}`]!)) as tf.Tensor4D;
  }
  const h = tf.reshape(a, [b, -1]) as tf.Tensor2D;
  const u = tf.add(tf.matMul(h, p[`${prefix}critic.fc.w`] as tf.Tensor2D), p[`${prefix}critic.fc.b`]!);
  const mean = tf.mean(u, 1, true);
  const variance = tf.mean(tf.square(tf.sub(u, mean)), 1, true);
  const z = tf.add(tf.mul(tf.div(tf.sub(u, mean), tf.sqrt(tf.add(variance, 1e-5))), p[`${prefix}critic.ln.g`]!), p[`${prefix}critic.ln.b`]!);
  return { h, z: z as tf.Tensor2D };
}

function referenceCurl(state: AgentState, after: AgentState, batch: Batch): { grads: Map<string, Float32Array>; loss: number; anchorFeatures: Float32Array[] } {
  // a scope rather than tf.tidy: the results are plain arrays, which tidy does not accept
  tf.engine().startScope();
  try {
    const b = batch.batchSize;
    const all: Record<string, tf.Tensor> = {};
    for (const [name, rec] of Object.entries(state.params)) all[name] = tf.tensor(rec.data, rec.shape, 'float32');
    // keys: the momentum encoder as CURL sees it, i.e. after this update's EMA
    // (the reference runs CURL after the target update); CURL never changes it
    const target: Record<string, tf.Tensor> = {};
    for (const [name, rec] of Object.entries(after.params)) if (name.startsWith('target.')) target[name] = tf.tensor(rec.data, rec.shape, 'float32');
    const keys = encode(batch.obsPositive!, b, target, 'target.').z; // a constant: grads are taken only in CURL_PARAMS
    const lossOf = (...ps: tf.Tensor[]): tf.Scalar => {
      const p = { ...all, ...Object.fromEntries(CURL_PARAMS.map((n, i) => [n, ps[i]!])) };
      const logits = tf.matMul(tf.matMul(encode(batch.obs, b, p, '').z, p['curl.W'] as tf.Tensor2D), keys, false, true);
      return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.range(0, b, 1, 'int32'), b), logits) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(lossOf)(CURL_PARAMS.map((n) => all[n]!));
    const h = encode(batch.obs, b, all, '').h.arraySync().map((row) => Float32Array.from(row));
    return {
      grads: new Map(CURL_PARAMS.map((n, i) => [n, (grads[i]!.dataSync() as Float32Array).slice()])),
      loss: value.dataSync()[0]!,
      anchorFeatures: h,
    };
  } finally {
    tf.engine().endScope();
  }
}

describe('the CURL gradient', () => {
  it('equals autodiff of the reference loss at the start-of-update parameters (keys from the target encoder, no gradient)', async () => {
    await useBackend('wasm');
    const agent = createAgent(tinyConfig({ numFilters: 8, latentDim: 8, numConvLayers: LAYERS }), { obsShape: [SIZE, SIZE, 3], actionDim: 2 }, 11);
    // step 1: the critic step moves the convs before CURL runs (CURL must still
    // use the start-of-update ones); step 2: the target EMA moves the key
    // encoder before CURL runs; step 3: the same after Adam has history
    const checks: Array<{ before: AgentState; after: AgentState; batch: Batch; grads: Map<string, Float32Array>; curlLoss: number }> = [];
    for (const step of [1, 2, 3]) {
      const batch = texturedBatch(50 + step, 8, SIZE, PAD, 2);
      const { before, after, metrics, grads } = await updateCapturing(agent, batch, step);
      checks.push({ before, after, batch, grads, curlLoss: metrics.curlLoss! });
    }
    agent.dispose();

    await useBackend('cpu');
    for (const { before, after, batch, grads, curlLoss } of checks) {
      const ref = referenceCurl(before, after, batch);
      // features are alive: every crop gives its own feature vector, most units active
      const distinct = new Set(ref.anchorFeatures.map((f) => Array.from(f, (v) => v.toFixed(5)).join()));
      expect(distinct.size).toBe(batch.batchSize);
      for (const f of ref.anchorFeatures) expect(f.filter((v) => v > 0).length).toBeGreaterThan(0.2 * f.length);
      expect(curlLoss).toBeCloseTo(ref.loss, 4);
      expect([...grads.keys()].sort()).toEqual([...CURL_PARAMS].sort());
      for (const name of CURL_PARAMS) {
        const r = ref.grads.get(name)!;
        expect(Math.hypot(...r), name).toBeGreaterThan(1e-4); // a real gradient, not an all-zero one
        expect(relErr(grads.get(name)!, r), name).toBeLessThan(2e-3);
      }
    }
  }, 60_000);
});

describe('CURL learning', () => {
  it('the contrastive loss alone learns to tell crops of textured scenes apart: accuracy climbs from chance to well above 1/B', async () => {
    await useBackend('wasm');
    // Zero rewards at terminal states make the critic's target 0, so the critic
    // barely moves the encoder; what the encoder learns comes from CURL.
    const B = 16;
    const rng = new Rng(5);
    // a replay-like pool: B scenes of 4x4-pixel blocks (a 16 crop of 20 shows most of its scene)
    const pool = Array.from({ length: B }, () => textureImage(rng, SIZE + PAD, 4));
    const sample = (): Batch => {
      const picks = Array.from({ length: B }, () => rng.int(pool.length));
      const crops = () => {
        const out = new Uint8Array(B * SIZE * SIZE * 3);
        picks.forEach((k, i) => cropInto(pool[k]!, SIZE + PAD, rng.int(PAD + 1), rng.int(PAD + 1), SIZE, out, i * SIZE * SIZE * 3));
        return out;
      };
      return {
        batchSize: B, size: SIZE, channels: 3, actionDim: 1, obs: crops(), obsPositive: crops(), nextObs: crops(),
        action: new Float32Array(B), reward: new Float32Array(B), notDone: new Float32Array(B),
      };
    };
    // lr 5x the reference's so that it learns within a CI-sized number of updates
    const agent = createAgent(tinyConfig({ numFilters: 8, latentDim: 16, numConvLayers: LAYERS, lr: 5e-3 }), { obsShape: [SIZE, SIZE, 3], actionDim: 1 }, 5);
    const acc: number[] = [];
    const loss: number[] = [];
    for (let step = 0; step < 400; step++) {
      const m = await agent.update(sample(), step);
      acc.push(m.curlAccuracy!);
      loss.push(m.curlLoss!);
    }
    agent.dispose();
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
    // seeds 1-5 end at 0.55-0.63 (chance is 1/16). Adam hides a gradient's scale, so
    // this catches a wrong direction; the test above catches a wrong size
    expect(mean(acc.slice(0, 20))).toBeLessThan(2 / B);
    expect(mean(acc.slice(-20))).toBeGreaterThan(0.4);
    expect(mean(loss.slice(-20))).toBeLessThan(0.5 * mean(loss.slice(0, 20)));
  }, 120_000);
});

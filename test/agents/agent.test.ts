import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AgentError } from '../../agents/index.js';
import { createAgent } from '../../src/agent.js';
import type { AgentSpec, CurlSacAgent } from '../../agents/index.js';
import { randomBatch, tinyConfig, useBackend } from './helpers.js';

beforeAll(async () => useBackend('wasm'));

const spec: AgentSpec = { obsShape: [12, 12, 6], actionDim: 2 };
const batch = (seed: number, positive = true) => randomBatch(seed, 6, 12, 6, 2, positive);

async function params(agent: CurlSacAgent, names: string[]): Promise<Float32Array[]> {
  return Promise.all(names.map((n) => agent.readParam(n)));
}

describe('CurlSacAgent', () => {
  it('acts: deterministic is tanh(mu) and repeatable; stochastic stays in [-1, 1]', async () => {
    const agent = createAgent(tinyConfig(), spec, 1);
    const obs = batch(1).obs.subarray(0, 12 * 12 * 6);
    const a1 = agent.act(obs, { deterministic: true });
    expect(agent.act(obs, { deterministic: true })).toEqual(a1);
    // tanh(mu), mu from the actor's weights with plain ops: obs/255, convs (stride 2, 1) + ReLU,
    // flatten, dense, LayerNorm (eps 1e-5), MLP 3 layers with ReLU between, first half of its output
    const state = await agent.getState();
    const p = (n: string) => tf.tensor(state.params[n]!.data, state.params[n]!.shape);
    const mu = tf.tidy(() => {
      let x: tf.Tensor = tf.div(tf.tensor4d(obs, [1, 12, 12, 6], 'float32'), 255);
      for (const l of [0, 1]) x = tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, p(`conv.w${l}`) as tf.Tensor4D, l === 0 ? 2 : 1, 'valid'), p(`conv.b${l}`)));
      const u = tf.add(tf.matMul(tf.reshape(x, [1, -1]), p('actor.fc.w') as tf.Tensor2D), p('actor.fc.b'));
      const { mean, variance } = tf.moments(u, -1, true);
      let z: tf.Tensor = tf.add(tf.mul(tf.div(tf.sub(u, mean), tf.sqrt(tf.add(variance, 1e-5))), p('actor.ln.g')), p('actor.ln.b'));
      for (const i of [0, 1, 2]) {
        z = tf.add(tf.matMul(z as tf.Tensor2D, p(`actor.w${i}`) as tf.Tensor2D), p(`actor.b${i}`));
        if (i < 2) z = tf.relu(z);
      }
      return Array.from(tf.tanh(z.slice([0, 0], [1, 2])).dataSync());
    });
    mu.forEach((m, i) => expect(a1[i]).toBeCloseTo(m, 5));
    const s = agent.act(obs, { deterministic: false });
    expect(s.length).toBe(2);
    for (const v of s) expect(Math.abs(v)).toBeLessThanOrEqual(1);
    expect(() => agent.act(new Uint8Array(5), { deterministic: true })).toThrow(AgentError);
    agent.dispose();
  });

  it("aux 'none' never builds W nor a CURL optimiser and needs no positive view", async () => {
    const agent = createAgent(tinyConfig({ aux: 'none' }), spec, 1);
    expect(agent.paramNames()).not.toContain('curl.W');
    const m = await agent.update(batch(1, false), 0);
    expect(m.curlLoss).toBeUndefined();
    expect(Number.isFinite(m.criticLoss)).toBe(true);
    const state = await agent.getState();
    expect(Object.keys(state.optimizers).sort()).toEqual(['actor', 'alpha', 'critic']);
    expect(Object.keys(state.params).some((n) => n.includes('curl'))).toBe(false);
    agent.dispose();
    const curl = createAgent(tinyConfig(), spec, 1);
    expect(curl.paramNames()).toContain('curl.W');
    await expect(curl.update(batch(1, false), 0)).rejects.toThrow(/obsPositive/);
    curl.dispose();
  });

  it('the actor loss puts no gradient into the shared convs', async () => {
    // same seed and batch; one agent runs the actor at step 1, the other does not
    const withActor = createAgent(tinyConfig({ aux: 'none', actorUpdateFreq: 1 }), spec, 3);
    const without = createAgent(tinyConfig({ aux: 'none', actorUpdateFreq: 1000 }), spec, 3);
    const mA = await withActor.update(batch(2, false), 1);
    const mB = await without.update(batch(2, false), 1);
    expect(mA.actorLoss).toBeDefined();
    expect(mB.actorLoss).toBeUndefined();
    const convs = withActor.paramNames().filter((n) => n.startsWith('conv.') || n.startsWith('critic.'));
    const [pa, pb] = [await params(withActor, convs), await params(without, convs)];
    pa.forEach((p, i) => expect(p).toEqual(pb[i]));
    // ...while the actor's own head did move
    const [ha] = await params(withActor, ['actor.fc.w']);
    const [hb] = await params(without, ['actor.fc.w']);
    expect(ha).not.toEqual(hb);
    withActor.dispose();
    without.dispose();
  });

  it('the CURL loss moves the shared convs (and W) but not the Q heads', async () => {
    const curl = createAgent(tinyConfig({ aux: 'curl' }), spec, 4);
    const none = createAgent(tinyConfig({ aux: 'none' }), spec, 4);
    const names = ['conv.w0', 'conv.w1', 'critic.fc.w'];
    const before = await params(none, names);
    expect(await params(curl, names)).toEqual(before); // identical init
    const W0 = await curl.readParam('curl.W');
    const b = batch(5);
    const mc = await curl.update(b, 1);
    const mn = await none.update({ ...b, obsPositive: undefined }, 1);
    expect(mc.criticLoss).toBe(mn.criticLoss);
    expect(mc.curlLoss).toBeGreaterThan(0);
    const [c, n] = [await params(curl, names), await params(none, names)];
    c.forEach((p, i) => expect(p).not.toEqual(n[i]));
    expect(await curl.readParam('curl.W')).not.toEqual(W0);
    const q = ['q1.w0', 'q2.w2'];
    expect(await params(curl, q)).toEqual(await params(none, q));
    curl.dispose();
    none.dispose();
  });

  it('target networks follow the EMA formula (Q tau and encoder tau)', async () => {
    const cfg = tinyConfig({ aux: 'none', criticTau: 0.1, encoderTau: 0.3 });
    const agent = createAgent(cfg, spec, 6);
    const pairs: Array<[string, number]> = [['q1.w1', 0.1], ['q2.b0', 0.1], ['conv.w1', 0.3], ['critic.ln.g', 0.3]];
    const targetBefore = await params(agent, pairs.map(([n]) => `target.${n}`));
    await agent.update(batch(7, false), 1); // odd step: no target update
    expect(await params(agent, pairs.map(([n]) => `target.${n}`))).toEqual(targetBefore);
    await agent.update(batch(8, false), 2);
    const online = await params(agent, pairs.map(([n]) => n));
    const after = await params(agent, pairs.map(([n]) => `target.${n}`));
    pairs.forEach(([, tau], k) => {
      for (let i = 0; i < online[k]!.length; i += 7) {
        expect(after[k]![i]).toBeCloseTo(tau * online[k]![i]! + (1 - tau) * targetBefore[k]![i]!, 6);
      }
    });
    agent.dispose();
  });

  it('keeps the live tensor count flat (update 10 vs update 100)', async () => {
    const agent = createAgent(tinyConfig(), spec, 2);
    const b = batch(9);
    let at10 = 0;
    for (let i = 1; i <= 100; i++) {
      await agent.update(b, i);
      agent.act(b.obs.subarray(0, 12 * 12 * 6), { deterministic: i % 2 === 0 });
      if (i === 10) at10 = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(at10);
    const before = tf.memory().numTensors;
    const other = createAgent(tinyConfig(), spec, 2);
    other.dispose();
    expect(tf.memory().numTensors).toBe(before);
    agent.dispose();
  });

  it('same seed and batches give identical metrics for 20 updates', async () => {
    const run = async () => {
      const agent = createAgent(tinyConfig({ microBatch: 4 }), spec, 12);
      const out: Array<Record<string, number>> = [];
      for (let i = 0; i < 20; i++) out.push(await agent.update(batch(100 + i), i));
      out.push({ a: agent.act(batch(1).obs.subarray(0, 12 * 12 * 6), { deterministic: false })[0]! });
      agent.dispose();
      return out;
    };
    const [a, b] = [await run(), await run()];
    expect(a).toEqual(b);
    expect(a[19]!.curlLoss).toBeDefined();
  });

  it('micro-batching does not change the update beyond float rounding', async () => {
    const full = createAgent(tinyConfig({ microBatch: 128 }), spec, 21);
    const chunked = createAgent(tinyConfig({ microBatch: 4 }), spec, 21);
    for (let i = 0; i < 3; i++) {
      const [mf, mc] = [await full.update(batch(40 + i), i), await chunked.update(batch(40 + i), i)];
      for (const k of Object.keys(mf)) expect(mc[k]).toBeCloseTo(mf[k]!, 4);
    }
    full.dispose();
    chunked.dispose();
  });

  it('getState/setState round trip gives identical next updates', async () => {
    const a = createAgent(tinyConfig(), spec, 30);
    for (let i = 0; i < 5; i++) await a.update(batch(200 + i), i);
    a.act(batch(1).obs.subarray(0, 12 * 12 * 6), { deterministic: false }); // leaves the Rng mid-pair
    const state = await a.getState();
    const json = JSON.parse(JSON.stringify({ ...state, params: {}, optimizers: {} })) as typeof state;
    expect(json.rng).toEqual(state.rng); // the non-array fields survive JSON
    const b = createAgent(tinyConfig(), spec, 999);
    b.setState(state);
    for (let i = 5; i < 9; i++) expect(await b.update(batch(200 + i), i)).toEqual(await a.update(batch(200 + i), i));
    expect(b.act(batch(2).obs.subarray(0, 12 * 12 * 6), { deterministic: false })).toEqual(
      a.act(batch(2).obs.subarray(0, 12 * 12 * 6), { deterministic: false }),
    );
    const wrong = createAgent(tinyConfig({ aux: 'none' }), spec, 1);
    expect(() => wrong.setState(state)).toThrow(/aux/);
    [a, b, wrong].forEach((x) => x.dispose());
  });

  it('rejects malformed batches with a clear error', async () => {
    const agent = createAgent(tinyConfig(), spec, 1);
    const b = batch(1);
    await expect(agent.update({ ...b, reward: new Float32Array(2) }, 0)).rejects.toThrow(/reward has 2 values, expected 6/);
    await expect(agent.update({ ...b, size: 10 }, 0)).rejects.toThrow(/expects 12x12x6/);
    agent.dispose();
  });
});

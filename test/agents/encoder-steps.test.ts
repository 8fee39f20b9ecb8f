/*
 * --curl-encoder-steps 2: the CURL reference's double step of the encoder on
 * the contrastive gradient (its encoder and CURL optimisers both hold the
 * encoder), as an opt-in.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agent.js';
import type { CurlSacAgent } from '../../agents/index.js';
import type { Batch } from '../../replay/types.js';
import { configSchema } from '../../src/config/schema.js';
import { randomBatch, tinyConfig, updateCapturing, useBackend } from './helpers.js';

afterAll(async () => useBackend('wasm'));

const spec = { obsShape: [12, 12, 3] as [number, number, number], actionDim: 2 };
const ENCODER = ['conv.w0', 'conv.b0', 'conv.w1', 'conv.b1', 'critic.fc.w', 'critic.fc.b', 'critic.ln.g', 'critic.ln.b'];
const LR = 1e-3;

async function firstUpdate(steps: number, batch: Batch) {
  const agent = createAgent(tinyConfig({ aux: 'curl', numConvLayers: 2, lr: LR, curlEncoderSteps: steps }), spec, 3);
  return { agent, ...(await updateCapturing(agent, batch, 0)) };
}

describe('curlEncoderSteps', () => {
  it('2 adds a second Adam step of the CURL gradient to the encoder only', async () => {
    await useBackend('wasm');
    const batch = randomBatch(11, 8, 12, 3, 2);
    const one = await firstUpdate(1, batch);
    const two = await firstUpdate(2, batch);
    // same start, same CURL gradient (it is taken at the start-of-update parameters)
    for (const n of ENCODER) expect(two.grads.get(n)).toEqual(one.grads.get(n));
    for (const n of ENCODER) {
      const g = one.grads.get(n)!;
      const p1 = one.after.params[n]!.data;
      const p2 = two.after.params[n]!.data;
      // Adam's first step with bias correction: lr * g / (|g| + eps), whatever the moments' betas
      let checked = 0;
      for (let i = 0; i < g.length; i++) {
        const extra = (LR * g[i]!) / (Math.abs(g[i]!) + 1e-8);
        expect(p1[i]! - p2[i]!, `${n}[${i}]`).toBeCloseTo(extra, 6);
        if (Math.abs(g[i]!) > 1e-6) checked++;
      }
      expect(checked, `${n}: nonzero CURL gradients`).toBeGreaterThan(0);
    }
    // W and everything outside the encoder take one step, as with curlEncoderSteps 1
    for (const n of Object.keys(one.after.params).filter((k) => !ENCODER.includes(k))) {
      expect(two.after.params[n]!.data, n).toEqual(one.after.params[n]!.data);
    }
    expect(Object.keys(two.after.optimizers).sort()).toEqual([...Object.keys(one.after.optimizers), 'encoderRepeat1'].sort());
    one.agent.dispose();
    two.agent.dispose();
  });

  it('its optimiser state is checkpointed: a restored agent continues with identical numbers', async () => {
    await useBackend('wasm');
    const cfg = tinyConfig({ aux: 'curl', numConvLayers: 2, curlEncoderSteps: 2 });
    const a = createAgent(cfg, spec, 4);
    for (let i = 0; i < 2; i++) await a.update(randomBatch(20 + i, 8, 12, 3, 2), i);
    const state = await a.getState();
    const b: CurlSacAgent = createAgent(cfg, spec, 99);
    b.setState(state);
    const next = randomBatch(30, 8, 12, 3, 2);
    expect(await b.update(next, 2)).toEqual(await a.update(next, 2));
    // the state of a single-step agent lacks the second encoder optimiser
    const single = createAgent({ ...cfg, curlEncoderSteps: 1 }, spec, 4);
    const singleOptimizers = (await single.getState()).optimizers;
    expect(() => b.setState({ ...state, optimizers: singleOptimizers })).toThrow(/missing optimizer state "encoderRepeat1"/);
    for (const agent of [a, b, single]) agent.dispose();
  });

  it('is refused with --aux none and outside 1-4', () => {
    expect(configSchema.safeParse({ aux: 'none', curlEncoderSteps: 2 }).error?.issues[0]?.message).toMatch(/curlEncoderSteps \(2\) repeats the encoder's step .*--aux none has none/);
    expect(configSchema.safeParse({ curlEncoderSteps: 0 }).success).toBe(false);
    expect(configSchema.safeParse({ curlEncoderSteps: 5 }).success).toBe(false);
    expect(configSchema.parse({}).curlEncoderSteps).toBe(1);
  });
});

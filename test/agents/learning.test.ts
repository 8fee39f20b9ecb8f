import { beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agent.js';
import type { Batch } from '../../replay/types.js';
import { Rng } from '../../src/core/rng.js';
import { tinyConfig, useBackend } from './helpers.js';

beforeAll(async () => useBackend('wasm'));

/**
 * A one-step pixel bandit: a bright 3x3 square sits in the left or right
 * half of a dark 16x16 image (random row and column within the half). The
 * reward for action a in [-1, 1] is a * side (side = -1 left, +1 right), so
 * the best action is only knowable from the pixels. Random actions earn 0 on
 * average; the optimal policy earns 1.
 */
const SIZE = 16;
const C = 3;

function drawScene(rng: Rng, out: Uint8Array, offset: number): number {
  const side = rng.uniform() < 0.5 ? -1 : 1;
  const col = (side < 0 ? 0 : SIZE / 2) + rng.int(SIZE / 2 - 3);
  const row = rng.int(SIZE - 3);
  for (let i = 0; i < SIZE * SIZE * C; i++) out[offset + i] = 20;
  for (let r = row; r < row + 3; r++) {
    for (let c = col; c < col + 3; c++) for (let k = 0; k < C; k++) out[offset + (r * SIZE + c) * C + k] = 230;
  }
  return side;
}

function sampleBatch(rng: Rng, b: number, policy: (obs: Uint8Array) => number): Batch {
  const px = SIZE * SIZE * C;
  const obs = new Uint8Array(b * px);
  const action = new Float32Array(b);
  const reward = new Float32Array(b);
  for (let i = 0; i < b; i++) {
    const side = drawScene(rng, obs, i * px);
    action[i] = policy(obs.subarray(i * px, (i + 1) * px));
    reward[i] = action[i]! * side;
  }
  // terminal after one step: next obs is irrelevant (notDone = 0)
  return { batchSize: b, size: SIZE, channels: C, actionDim: 1, obs, obsPositive: obs, nextObs: obs, action, reward, notDone: new Float32Array(b) };
}

describe('learning sanity', () => {
  it('on a pixel bandit the critic loss falls and the policy beats random', async () => {
    const agent = createAgent(
      tinyConfig({ aux: 'curl', hiddenDim: 32, latentDim: 8, numFilters: 8, numConvLayers: 2, initTemperature: 0.05, alphaLr: 1e-3 }),
      { obsShape: [SIZE, SIZE, C], actionDim: 1 },
      7,
    );
    const rng = new Rng(1);
    const random = () => rng.uniform() * 2 - 1;
    const losses: number[] = [];
    const UPDATES = 300;
    for (let step = 0; step < UPDATES; step++) {
      // off-policy data from uniform random actions, like the initial-steps phase
      const m = await agent.update(sampleBatch(rng, 32, random), step);
      losses.push(m.criticLoss!);
    }
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
    expect(mean(losses.slice(-30))).toBeLessThan(0.5 * mean(losses.slice(0, 30)));

    const evalRng = new Rng(99);
    const trained = sampleBatch(evalRng, 200, (o) => agent.act(o, { deterministic: true })[0]!);
    const baseline = sampleBatch(new Rng(99), 200, () => evalRng.uniform() * 2 - 1);
    const trainedReturn = mean(Array.from(trained.reward));
    expect(trainedReturn).toBeGreaterThan(0.5);
    expect(trainedReturn).toBeGreaterThan(mean(Array.from(baseline.reward)) + 0.4);
    agent.dispose();
  }, 120_000);
});

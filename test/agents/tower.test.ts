import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agent.js';
import type { AgentSpec } from '../../agents/index.js';
import { defaultConvWorkers } from '../../agents/tower/defaults.js';
import { createConvTower } from '../../agents/tower/sharded.js';
import type { ConvTower } from '../../agents/tower/sharded.js';
import type { ConvParams } from '../../agents/networks.js';
import { Rng } from '../../src/core/rng.js';
import { randomBatch, tinyConfig, useBackend } from './helpers.js';

const SIDE = 12;
const CH = 6;
const spec: AgentSpec = { obsShape: [SIDE, SIDE, CH], actionDim: 2 };

function randomConv(seed: number): ConvParams {
  const rng = new Rng(seed);
  const t = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * 0.1), shape);
  return { w: [t([3, 3, CH, 4]) as tf.Tensor4D, t([3, 3, 4, 4]) as tf.Tensor4D], b: [t([4]) as tf.Tensor1D, t([4]) as tf.Tensor1D] };
}

async function allValues(ts: readonly tf.Tensor[]): Promise<number[][]> {
  return Promise.all(ts.map(async (t) => Array.from(await t.data())));
}

function expectClose(a: number[][], b: number[][], tol: number): void {
  expect(a.map((x) => x.length)).toEqual(b.map((x) => x.length));
  a.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - b[i]![j]!)).toBeLessThanOrEqual(tol * (1 + Math.abs(b[i]![j]!)))));
}

describe('default conv workers', () => {
  it('uses the spare cores on the single-threaded backends only', () => {
    expect(defaultConvWorkers('wasm', 1, 8)).toBe(7);
    expect(defaultConvWorkers('cpu', 1, 2)).toBe(1);
    expect(defaultConvWorkers('wasm', 2, 8)).toBe(3);
    expect(defaultConvWorkers('wasm', 1, 1)).toBe(0);
    expect(defaultConvWorkers('tensorflow', 1, 8)).toBe(0);
    expect(defaultConvWorkers('tensorflow-gpu', 1, 8)).toBe(0);
  });
});

describe('data-parallel conv tower (worker threads)', () => {
  beforeAll(() => useBackend('wasm'));
  const towers: ConvTower[] = [];
  afterAll(() => towers.forEach((t) => t.dispose()));
  const make = (workers: number, microBatch = 4) => {
    const t = createConvTower({ obsShape: spec.obsShape, microBatch, cacheTransposes: true, workers, backend: 'wasm' });
    towers.push(t);
    return t;
  };

  it.each([1, 2])('features, anchor and two backward passes with %i worker(s) match the single-thread tower', async (workers) => {
    const rows = 11; // not a multiple of the shard count nor of the micro-batch
    const batch = randomBatch(5, rows, SIDE, CH, 2);
    const p = randomConv(1);
    const q = randomConv(2);
    const results = async (tower: ConvTower) => {
      await tower.load({ obs: batch.obs, next: batch.nextObs }, rows);
      const f = await tower.features('next', q);
      const h = await tower.anchor('obs', p);
      const dh1 = tf.tidy(() => tf.mul(h, 0.5).add(0.1) as tf.Tensor2D);
      const dh2 = tf.tidy(() => tf.sin(h) as tf.Tensor2D);
      const g1 = await tower.anchorGrads(p, dh1);
      const g2 = await tower.anchorGrads(q, dh2);
      const out = await allValues([f, h, ...g1.w, ...g1.b, ...g2.w, ...g2.b]);
      tf.dispose([f, h, dh1, dh2, ...g1.w, ...g1.b, ...g2.w, ...g2.b]);
      await tower.release();
      return out;
    };
    const single = await results(make(0));
    const sharded = await results(make(workers));
    expect(make(workers).shards).toBe(workers + 1);
    expectClose(sharded, single, 1e-5);
    // a shard that got no rows (batch smaller than the shard count) is skipped, not an error
    const tiny = randomBatch(6, 2, SIDE, CH, 2);
    const t = make(workers);
    await t.load({ obs: tiny.obs }, 2);
    const h = await t.features('obs', p);
    expect(h.shape[0]).toBe(2);
    h.dispose();
    await t.release();
    tf.dispose([...p.w, ...p.b, ...q.w, ...q.b]);
  });

  it("refuses to start workers on 'auto': a worker must run the calling thread's backend, not pick its own", () => {
    expect(() => createConvTower({ obsShape: spec.obsShape, microBatch: 4, cacheTransposes: true, workers: 1, backend: 'auto' }))
      .toThrow(/calling thread's backend.*not 'auto'/);
  });

  it('a failed pass rejects with an error that says what went wrong, and the tower keeps working', async () => {
    const tower = make(1);
    const batch = randomBatch(7, 4, SIDE, CH, 2);
    const p = randomConv(3);
    await tower.load({ obs: batch.obs }, 4);
    // every shard fails here; the workers' rejections must not surface as unhandled (the wasm runtime would crash the process)
    await expect(tower.features('pos', p)).rejects.toThrow(/no 'pos' images loaded/);
    const h = await tower.features('obs', p);
    expect(h.shape).toEqual([4, 3 * 3 * 4]); // 12 -> 5 (stride 2) -> 3
    tf.dispose([h, ...p.w, ...p.b]);
    await tower.release();
  });

  it('an agent with a worker thread trains like one without, reproducibly, without leaking tensors', async () => {
    const batch = (seed: number) => randomBatch(seed, 9, SIDE, CH, 2);
    const run = async (convWorkers: number) => {
      const agent = createAgent(tinyConfig({ microBatch: 4, convWorkers }), spec, 31);
      const out: Array<Record<string, number>> = [];
      out.push(await agent.update(batch(200), 0));
      const live = tf.memory().numTensors;
      for (let i = 1; i < 6; i++) out.push(await agent.update(batch(200 + i), i));
      expect(tf.memory().numTensors).toBe(live);
      expect(agent.convShards).toBe(convWorkers + 1);
      agent.dispose();
      return out;
    };
    const single = await run(0);
    const a = await run(1);
    const b = await run(1);
    expect(a).toEqual(b);
    for (let i = 0; i < single.length; i++) for (const k of Object.keys(single[i]!)) expect(a[i]![k]).toBeCloseTo(single[i]![k]!, 4);
  });
});

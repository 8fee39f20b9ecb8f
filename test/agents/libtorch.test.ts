import { rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agent.js';
import type { AgentSpec } from '../../agents/index.js';
import { loadConvAddon } from '../../agents/native/addon.js';
import { createTrunk } from '../../agents/tower/trunk.js';
import type { ConvEngineName, DenseParams, EncoderTrunk } from '../../agents/tower/trunk.js';
import type { ConvParams } from '../../agents/networks.js';
import { resolveConvEngine } from '../../src/conv-engine.js';
import { BackendUnavailableError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { randomBatch, tinyConfig, useBackend } from './helpers.js';

const built = loadConvAddon().available;

describe('libtorch conv engine: build', () => {
  it.runIf(process.env.CI === 'true')('is built in CI (.ci/run installs libtorch-dev before npm ci)', () => {
    expect(loadConvAddon()).toMatchObject({ available: true });
  });
});

function randomConv(seed: number, channels: number, filters: number, layers: number): ConvParams {
  const rng = new Rng(seed);
  const t = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * 0.2), shape);
  const w: tf.Tensor4D[] = [];
  const b: tf.Tensor1D[] = [];
  for (let l = 0; l < layers; l++) {
    w.push(t([3, 3, l === 0 ? channels : filters, filters]) as tf.Tensor4D);
    b.push(t([filters]) as tf.Tensor1D);
  }
  return { w, b };
}

async function values(ts: readonly tf.Tensor[]): Promise<Float32Array[]> {
  return Promise.all(ts.map(async (t) => (await t.data()) as Float32Array));
}

/** |a - b| <= tol * (1 + |b|) everywhere, and the same sizes. */
function expectClose(a: Float32Array[], b: Float32Array[], tol: number): void {
  expect(a.map((x) => x.length)).toEqual(b.map((x) => x.length));
  let worst = 0;
  a.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - b[i]![j]!) / (1 + Math.abs(b[i]![j]!))))));
  expect(worst).toBeLessThanOrEqual(tol);
}

function randomDense(seed: number, features: number, latent: number): DenseParams {
  const rng = new Rng(seed);
  const t = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.05);
  return { w: tf.tensor2d(t(features * latent), [features, latent]), b: tf.tensor1d(t(latent)) };
}

describe.runIf(built)('libtorch trunk against the tfjs trunk', () => {
  beforeAll(() => useBackend('wasm'));
  const trunks: EncoderTrunk[] = [];
  afterAll(() => trunks.forEach((t) => t.dispose()));
  const make = (engine: ConvEngineName, obsShape: [number, number, number], layers: number, filters: number) => {
    const t = createTrunk({
      engine, threads: 2, numLayers: layers, numFilters: filters, obsShape, microBatch: 4, cacheTransposes: true, workers: 0, backend: 'wasm',
    });
    trunks.push(t);
    return t;
  };

  // odd sides (the stride-2 layer drops a column), a row count that is a multiple of nothing, and a single row
  it.each([
    { side: 13, channels: 9, filters: 5, layers: 3, rows: 11 },
    { side: 12, channels: 6, filters: 4, layers: 2, rows: 1 },
    { side: 20, channels: 3, filters: 8, layers: 4, rows: 7 },
  ])('forward passes with several heads and backward passes (conv and detached) match: $side x $side x $channels, $layers layers, $rows rows', async ({ side, channels, filters, layers, rows }) => {
    const batch = randomBatch(side + rows, rows, side, channels, 2);
    const out = Math.floor((side - 3) / 2) + 1 - 2 * (layers - 1);
    const F = out * out * filters;
    const p = randomConv(1, channels, filters, layers);
    const q = randomConv(2, channels, filters, layers);
    const [h1, h2, h3] = [randomDense(3, F, 5), randomDense(4, F, 5), randomDense(5, F, 5)];
    const results = async (trunk: EncoderTrunk) => {
      await trunk.load({ obs: batch.obs, next: batch.nextObs }, rows);
      const next = await trunk.forward('next', q, [h1!, h2!]);
      const [u] = await trunk.forward('obs', p, [h1!], 'anchor');
      const detached = await trunk.forward('next', q, [h2!, h3!], 'detached');
      const d1 = tf.tidy(() => tf.mul(u!, 0.5).add(0.1) as tf.Tensor2D);
      const d2 = tf.tidy(() => tf.sin(tf.mul(u!, 3)) as tf.Tensor2D);
      // the critic's and then CURL's gradient from the same anchor activations, at other parameters the second time
      const g1 = await trunk.backward('anchor', p, h1!, d1, true);
      const g2 = await trunk.backward('anchor', q, h2!, d2, true);
      // the actor's: its head only, from the detached pass
      const g3 = await trunk.backward('detached', q, h3!, d2, false);
      expect(g3.conv).toBeUndefined();
      const grads = [g1, g2, g3].flatMap((g) => [g.head.w, g.head.b, ...(g.conv?.w ?? []), ...(g.conv?.b ?? [])]);
      const all = [...next, u!, ...detached, ...grads];
      const vals = await values(all);
      tf.dispose([...all, d1, d2]);
      await trunk.release();
      return vals;
    };
    const reference = await results(make('tfjs', [side, side, channels], layers, filters));
    const native = await results(make('libtorch', [side, side, channels], layers, filters));
    // outputs and gradients are alive (not all zero), so the comparison means something
    expect(reference[2]!.some((v) => v !== 0) && reference.at(-1)!.some((v) => v !== 0)).toBe(true);
    expectClose(native, reference, 2e-5);
    tf.dispose([...p.w, ...p.b, ...q.w, ...q.b, h1!.w, h1!.b, h2!.w, h2!.b, h3!.w, h3!.b]);
  });

  it('says what was wrong: bad sizes, a missing image set, a backward pass before its forward pass', async () => {
    const trunk = make('libtorch', [12, 12, 6], 2, 4);
    const p = randomConv(3, 6, 4, 2);
    const head = randomDense(4, 36, 3);
    const batch = randomBatch(3, 4, 12, 6, 2);
    await expect(trunk.load({ obs: batch.obs.subarray(1) }, 4)).rejects.toThrow(/'obs' has 3455 bytes, expected 4 x 864/);
    await trunk.load({ obs: batch.obs }, 4);
    await expect(trunk.forward('pos', p, [head])).rejects.toThrow(/no 'pos' images loaded/);
    const d = tf.zeros([4, 3]) as tf.Tensor2D;
    await expect(trunk.backward('anchor', p, head, d, true)).rejects.toThrow(/backward of 'anchor' before its forward pass/);
    const wrongHead = randomDense(5, 35, 3);
    await expect(trunk.forward('obs', p, [wrongHead])).rejects.toThrow(/head weights has 105 values, expected 108/);
    const [u] = await trunk.forward('obs', p, [head]);
    expect(u!.shape).toEqual([4, 3]);
    tf.dispose([u!, d, ...p.w, ...p.b, head.w, head.b, wrongHead.w, wrongHead.b]);
    await trunk.release();
  });
});

describe.runIf(built)('an agent on the libtorch engine', () => {
  beforeAll(() => useBackend('wasm'));
  const S = 16;
  const C = 6;
  const run = async (convEngine: 'tfjs' | 'libtorch', convWorkers = 1, side = S, rows = 13) => {
    const shape: AgentSpec = { obsShape: [side, side, C], actionDim: 2 };
    const agent = createAgent(tinyConfig({ convEngine, convWorkers, microBatch: 5, numFilters: 6 }), shape, 11);
    expect(agent.convEngine.engine).toBe(convEngine);
    const metrics: Array<Record<string, number>> = [];
    metrics.push(await agent.update(randomBatch(300, rows, side, C, 2), 0));
    const live = tf.memory().numTensors;
    for (let i = 1; i < 6; i++) metrics.push(await agent.update(randomBatch(300 + i, rows, side, C, 2), i));
    expect(tf.memory().numTensors).toBe(live);
    const params = await Promise.all(agent.paramNames().map((n) => agent.readParam(n)));
    agent.dispose();
    return { metrics, params };
  };

  it('updates like the tfjs agent (metrics to 4 decimals, every weight after 6 updates), with a flat tensor count', async () => {
    const tfjs = await run('tfjs', 0);
    const native = await run('libtorch');
    for (let i = 0; i < tfjs.metrics.length; i++) {
      expect(Object.keys(native.metrics[i]!).sort()).toEqual(Object.keys(tfjs.metrics[i]!).sort());
      for (const k of Object.keys(tfjs.metrics[i]!)) expect(native.metrics[i]![k]).toBeCloseTo(tfjs.metrics[i]![k]!, 4);
    }
    expectClose(native.params, tfjs.params, 1e-4);
  });

  it('gives identical numbers twice for the same seed and thread count', async () => {
    // 16 rows of 64x64: enough pixels that the engine splits each pass over both threads
    const a = await run('libtorch', 1, 64, 16);
    const b = await run('libtorch', 1, 64, 16);
    expect(a.metrics).toEqual(b.metrics);
    expect(a.params).toEqual(b.params);
  });
});

describe('choosing the conv engine', () => {
  let dir: string | undefined;
  const saved = process.env.CURL_RL_CONV_ADDON;
  afterEach(() => {
    if (saved === undefined) delete process.env.CURL_RL_CONV_ADDON;
    else process.env.CURL_RL_CONV_ADDON = saved;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('auto takes libtorch on wasm/cpu when it is built, tfjs on the native TensorFlow backends', () => {
    expect(resolveConvEngine('auto', 'tensorflow').engine).toBe('tfjs');
    expect(resolveConvEngine('auto', 'tensorflow-gpu').reason).toMatch(/runs convs natively/);
    expect(resolveConvEngine('tfjs', 'wasm')).toMatchObject({ engine: 'tfjs', reason: 'requested' });
    if (built) expect(resolveConvEngine('auto', 'wasm').engine).toBe('libtorch');
  });

  it('a missing addon: auto falls back to tfjs saying how to build it; asking for libtorch is exit code 3 with the build command', () => {
    process.env.CURL_RL_CONV_ADDON = '/nonexistent/curl_conv.node';
    const auto = resolveConvEngine('auto', 'wasm');
    expect(auto.engine).toBe('tfjs');
    expect(auto.reason).toMatch(/not built.*npm run build:native/);
    let error: unknown;
    try {
      resolveConvEngine('libtorch', 'wasm');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as BackendUnavailableError).exitCode).toBe(3);
    expect((error as Error).message).toMatch(/--conv-engine libtorch is not available.*npm run build:native.*libtorch-dev/);
  });

  it.runIf(built)('CURL_RL_CONV_ADDON may be relative to the working directory', () => {
    const absolute = loadConvAddon().path;
    process.env.CURL_RL_CONV_ADDON = relative(process.cwd(), absolute);
    expect(loadConvAddon()).toMatchObject({ available: true, path: absolute });
  });

  it('a broken addon file is reported as not loading, not a crash', () => {
    dir = mkdtempSync(join(tmpdir(), 'curl-addon-'));
    const path = join(dir, 'curl_conv.node');
    writeFileSync(path, 'not a shared library');
    process.env.CURL_RL_CONV_ADDON = path;
    const status = loadConvAddon();
    expect(status.available).toBe(false);
    if (!status.available) expect(status.reason).toMatch(/does not load/);
    expect(resolveConvEngine('auto', 'cpu').engine).toBe('tfjs');
    expect(() => resolveConvEngine('libtorch', 'cpu')).toThrow(/does not load.*npm run build:native/);
  });
});

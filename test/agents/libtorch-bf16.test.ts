// The native engine's bf16 precision against its fp32 on the same inputs, at the paper's encoder
// sizes (84x84x9 frames, 4 convs of 32 filters, a 50-wide head): the head outputs within a
// relative error, every gradient pointing where fp32's does, and everything handed back fp32.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConvAddon } from '../../agents/native/addon.js';
import type { NativeConvEngine, NativeEngineOptions, NativeGrads, Precision } from '../../agents/native/addon.js';
import { createTrunk, TrunkError } from '../../agents/tower/trunk.js';
import type { DenseParams } from '../../agents/tower/trunk.js';
import type { ConvParams } from '../../agents/networks.js';
import { Rng } from '../../src/core/rng.js';
import { randomBatch, relErr, useBackend } from './helpers.js';

const addon = loadConvAddon();

const SIDE = 84;
const CHANNELS = 9;
const LAYERS = 4;
const FILTERS = 32;
const LATENT = 50;
const ROWS = 8;
const FEATURES = 35 * 35 * FILTERS;

// Measured (AMD EPYC Zen 5, avx512_bf16; libtorch 1.13 and 2.13 alike; seeds 11-13): the head outputs'
// relative error 0.0041-0.0093; 1 - cosine of the heads' gradients <= 2.3e-5, of the conv filters' and
// biases' 9.7e-4-8.1e-3. The conv gradients' spread comes from the forward pass, not the backward
// arithmetic: PyTorch gives the same with bf16 activations and fp32 gradient math, since an activation
// rounded near zero flips its ReLU. The bounds leave a margin of 2x on the error and 2.5-4x on 1 - cosine.
const HEAD_REL_ERR = 0.02;
const HEAD_GRAD_COSINE = 0.9999;
const CONV_GRAD_COSINE = 0.98;
// The first layer's filter and bias gradients computed in bf16 against the same sums in fp32: bf16's
// rounding of the output (2^-9 relative at most) and oneDNN's summation order. Measured (Intel Xeon with
// AMX, libtorch 1.13, seeds 31-32): relative error 0.0010-0.0017; the bound leaves a margin of 3x.
const FIRST_FILTER_REL_ERR = 0.005;

/** The kernel's CPU flags, or undefined where /proc/cpuinfo cannot be read. */
function cpuFlags(): string[] | undefined {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1]?.trim().split(/\s+/) ?? [];
  } catch {
    return undefined;
  }
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! ** 2;
    bb += b[i]! ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

/** He-scaled filters (the features stay O(1) through the stack, as in training) and a dense head of the paper's sizes. */
function params(seed: number): { conv: { w: Float32Array[]; b: Float32Array[] }; heads: Array<{ w: Float32Array; b: Float32Array }> } {
  const rng = new Rng(seed);
  const normal = (n: number, std: number) => Float32Array.from({ length: n }, () => rng.normal() * std);
  const w: Float32Array[] = [];
  const b: Float32Array[] = [];
  for (let l = 0; l < LAYERS; l++) {
    const cin = l === 0 ? CHANNELS : FILTERS;
    w.push(normal(9 * cin * FILTERS, Math.sqrt(2 / (9 * cin))));
    b.push(normal(FILTERS, 0.05));
  }
  const heads = [0, 1].map(() => ({ w: normal(FEATURES * LATENT, Math.sqrt(1 / FEATURES)), b: normal(LATENT, 0.05) }));
  return { conv: { w, b }, heads };
}

interface Pass {
  outs: Float32Array[];
  anchor: NativeGrads;
  detached: NativeGrads;
}

/** The trunk's passes of an update on the engine itself: two heads forward, a kept pass with conv gradients, a detached one without. */
async function passes(engine: NativeConvEngine, seed: number): Promise<Pass> {
  const batch = randomBatch(seed, ROWS, SIDE, CHANNELS, 2);
  const { conv, heads } = params(seed + 1);
  const rng = new Rng(seed + 2);
  const dOut = Float32Array.from({ length: ROWS * LATENT }, () => rng.normal());
  engine.load({ obs: batch.obs, next: batch.nextObs }, ROWS);
  const outs = await engine.forward('obs', conv.w, conv.b, heads, 'anchor');
  outs.push(...(await engine.forward('next', conv.w, conv.b, [heads[1]!], 'detached')));
  const anchor = await engine.backward('anchor', conv.w, conv.b, heads[0]!, dOut, true);
  const detached = await engine.backward('detached', conv.w, conv.b, heads[1]!, dOut, false);
  engine.release();
  return { outs, anchor, detached };
}

function gradArrays(g: NativeGrads): Array<[string, Float32Array]> {
  return [
    ['headW', g.headW],
    ['headB', g.headB],
    ...(g.w ?? []).map((w, l): [string, Float32Array] => [`w${l}`, w]),
    ...(g.b ?? []).map((b, l): [string, Float32Array] => [`b${l}`, b]),
  ];
}

describe.runIf(addon.available)('the native engine in bf16 against fp32', () => {
  const engines: NativeConvEngine[] = [];
  const engine = (precision?: Precision, extra: Partial<NativeEngineOptions> = {}): NativeConvEngine => {
    if (!addon.available) throw new Error('unreachable: the suite runs only with the addon');
    const options: NativeEngineOptions = { height: SIDE, width: SIDE, channels: CHANNELS, layers: LAYERS, filters: FILTERS, threads: 2, ...extra };
    const e = new addon.binding.ConvEngine(precision ? { ...options, precision } : options);
    engines.push(e);
    return e;
  };
  afterAll(() => engines.forEach((e) => e.release()));

  it.each([11, 12, 13])("seed %i: head outputs near fp32's, every gradient tensor pointing where fp32's does, every array Float32Array", async (seed) => {
    const fp32 = await passes(engine('fp32'), seed);
    const bf16 = await passes(engine('bf16'), seed);
    for (const out of [...bf16.outs, ...gradArrays(bf16.anchor).map(([, a]) => a), ...gradArrays(bf16.detached).map(([, a]) => a)]) {
      expect(out).toBeInstanceOf(Float32Array);
    }
    expect(bf16.outs.map((o) => o.length)).toEqual(fp32.outs.map((o) => o.length));
    bf16.outs.forEach((o, i) => expect(relErr(o, fp32.outs[i]!)).toBeLessThan(HEAD_REL_ERR));
    // bf16 rounds: a result identical to fp32's would mean the option did nothing
    expect(relErr(bf16.outs[0]!, fp32.outs[0]!)).toBeGreaterThan(1e-4);
    const pairs = [
      ...gradArrays(bf16.anchor).map(([name, a], i): [string, Float32Array, Float32Array] => [`anchor ${name}`, a, gradArrays(fp32.anchor)[i]![1]]),
      ...gradArrays(bf16.detached).map(([name, a], i): [string, Float32Array, Float32Array] => [`detached ${name}`, a, gradArrays(fp32.detached)[i]![1]]),
    ];
    expect(pairs).toHaveLength(2 + 2 * LAYERS + 2);
    for (const [name, a, b] of pairs) {
      expect(a.length, name).toBe(b.length);
      expect(cosine(a, b), name).toBeGreaterThan(/head/.test(name) ? HEAD_GRAD_COSINE : CONV_GRAD_COSINE);
    }
  });

  it("says its precision; fp32 left out and fp32 named are the same engine, bit for bit", async () => {
    const unnamed = engine();
    expect(unnamed.precision).toBe('fp32');
    expect(engine('bf16').precision).toBe('bf16');
    const arrays = (p: Pass) => [...p.outs, ...gradArrays(p.anchor).map(([, x]) => x), ...gradArrays(p.detached).map(([, x]) => x)];
    const a = arrays(await passes(unnamed, 21));
    const b = arrays(await passes(engine('fp32'), 21));
    expect(b).toHaveLength(a.length);
    // byte comparison: toEqual walks 2 million head-gradient elements one by one
    b.forEach((x, i) => expect(Buffer.from(x.buffer).equals(Buffer.from(a[i]!.buffer))).toBe(true));
  });

  it('refuses an unknown precision, and a head prepared at another precision', () => {
    expect(() => engine('fp16' as Precision)).toThrow(/ConvEngine: 'precision' must be 'fp32' or 'bf16', got 'fp16'/);
    expect(() => engine(undefined, { precision: 16 as unknown as Precision })).toThrow(/'precision' must be 'fp32' or 'bf16', got 16/);
    const { conv, heads } = params(3);
    const prepared = engine('fp32').prepareHead(heads[0]!);
    const bf16 = engine('bf16');
    bf16.load({ obs: randomBatch(3, 1, SIDE, CHANNELS, 2).obs }, 1);
    expect(() => bf16.forward('obs', conv.w, conv.b, [prepared], '')).toThrow(/a prepared head of another engine's precision/);
  });

  it("resolves the first layer's filter gradient: bf16 by default exactly where the CPU has AMX, fp32 on an fp32 engine, a bad value refused", () => {
    const flags = cpuFlags();
    if (flags) expect(engine('bf16').firstFilterGradient).toBe(flags.includes('amx_bf16') ? 'bf16' : 'fp32');
    expect(engine('bf16', { firstFilterGradient: 'fp32' }).firstFilterGradient).toBe('fp32');
    expect(engine('bf16', { firstFilterGradient: 'bf16' }).firstFilterGradient).toBe('bf16');
    expect(engine('fp32').firstFilterGradient).toBe('fp32');
    expect(engine('fp32', { firstFilterGradient: 'auto' }).firstFilterGradient).toBe('fp32');
    expect(() => engine('fp32', { firstFilterGradient: 'bf16' })).toThrow(/'firstFilterGradient' 'bf16' needs precision 'bf16'/);
    expect(() => engine('bf16', { firstFilterGradient: 'fp16' as Precision })).toThrow(/'firstFilterGradient' must be 'auto', 'fp32' or 'bf16', got 'fp16'/);
  });

  it.each([31, 32])("seed %i: the first layer's filter gradient in bf16 is fp32's to bf16 rounding, and nothing else changes", async (seed) => {
    const inFloat = await passes(engine('bf16', { firstFilterGradient: 'fp32' }), seed);
    const inBf16 = await passes(engine('bf16', { firstFilterGradient: 'bf16' }), seed);
    const a = gradArrays(inFloat.anchor);
    const b = gradArrays(inBf16.anchor);
    const same = (x: Float32Array, y: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
    for (let i = 0; i < a.length; i++) {
      const [name, x] = a[i]!;
      const y = b[i]![1];
      if (name === 'w0' || name === 'b0') {
        // a bf16 result: the same sums, rounded to 8 bits of mantissa on the way out
        expect(same(x, y), name).toBe(false);
        expect(relErr(y, x), name).toBeLessThan(FIRST_FILTER_REL_ERR);
      } else {
        expect(same(x, y), name).toBe(true);
      }
    }
    [...inFloat.outs, ...gradArrays(inFloat.detached).map(([, x]) => x)].forEach((x, i) =>
      expect(same(x, [...inBf16.outs, ...gradArrays(inBf16.detached).map(([, y]) => y)][i]!)).toBe(true),
    );
  });

  it("info() says how this CPU runs bf16, and agrees with the kernel's flags where it has them", () => {
    if (!addon.available) throw new Error('unreachable');
    const { bf16, bf16Why } = addon.info;
    expect(['native', 'emulated', 'unsupported']).toContain(bf16);
    expect(bf16Why).toMatch(/per (libtorch's at::cpu::get_cpu_capabilities\(\)|\/proc\/cpuinfo)|no oneDNN/);
    const flags = cpuFlags();
    if (!flags) return; // no /proc: nothing to compare with
    if (addon.info.mkldnn && (flags.includes('avx512_bf16') || flags.includes('amx_bf16'))) expect(bf16).toBe('native');
    if (!flags.includes('avx512bw')) expect(bf16).not.toBe('native');
  });
});

describe('the trunk: precision', () => {
  beforeAll(() => useBackend('wasm'));
  const base = { threads: 2, numLayers: 2, numFilters: 4, obsShape: [12, 12, 6] as [number, number, number], microBatch: 4, cacheTransposes: false, workers: 0, backend: 'wasm' as const };

  it('is validated: an unknown value, and bf16 on the tfjs engine, are errors that say what is allowed', () => {
    expect(() => createTrunk({ ...base, engine: 'libtorch', precision: 'fp16' as Precision })).toThrow(TrunkError);
    expect(() => createTrunk({ ...base, engine: 'libtorch', precision: 'fp16' as Precision })).toThrow(/precision must be one of fp32, bf16, got "fp16"/);
    expect(() => createTrunk({ ...base, engine: 'tfjs', precision: 'bf16' })).toThrow(/precision 'bf16' needs the libtorch engine/);
    const tfjs = createTrunk({ ...base, engine: 'tfjs' });
    expect(tfjs.precision).toBe('fp32');
    tfjs.dispose();
  });

  it.runIf(addon.available)('bf16 reaches the engine, and the trunk hands back float32 tensors', async () => {
    const results: Float32Array[][] = [];
    for (const precision of ['fp32', 'bf16'] as const) {
      const trunk = createTrunk({ ...base, engine: 'libtorch', precision });
      expect(trunk.precision).toBe(precision);
      const rng = new Rng(5);
      const t = (shape: number[], std: number) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * std), shape);
      const conv: ConvParams = { w: [t([3, 3, 6, 4], 0.3) as tf.Tensor4D, t([3, 3, 4, 4], 0.3) as tf.Tensor4D], b: [t([4], 0.1) as tf.Tensor1D, t([4], 0.1) as tf.Tensor1D] };
      const head: DenseParams = { w: t([36, 3], 0.2) as tf.Tensor2D, b: t([3], 0.1) as tf.Tensor1D };
      await trunk.load({ obs: randomBatch(6, 5, 12, 6, 2).obs }, 5);
      const [u] = await trunk.forward('obs', conv, [head], 'anchor');
      const d = tf.onesLike(u!) as tf.Tensor2D;
      const g = await trunk.backward('anchor', conv, head, d, true);
      const all = [u!, g.head.w, g.head.b, ...g.conv!.w, ...g.conv!.b];
      expect(all.map((x) => x.dtype)).toEqual(all.map(() => 'float32'));
      const values = await Promise.all(all.map(async (x) => (await x.data()) as Float32Array));
      tf.dispose([...all, d, ...conv.w, ...conv.b, head.w, head.b]);
      trunk.dispose();
      results.push(values);
    }
    const [fp32, bf16] = results as [Float32Array[], Float32Array[]];
    expect(relErr(bf16[0]!, fp32[0]!)).toBeLessThan(HEAD_REL_ERR);
    expect(relErr(bf16[0]!, fp32[0]!)).toBeGreaterThan(0);
    bf16.slice(1).forEach((g, i) => expect(cosine(g, fp32[i + 1]!)).toBeGreaterThan(CONV_GRAD_COSINE));
  });
});

import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createAgent } from '../../src/agent.js';
import type { AgentConfig } from '../../agents/index.js';
import { encoderFlops } from '../../agents/aux/descriptor.js';
import { auxObjective, auxObjectives, auxReport, registerAuxObjective } from '../../agents/aux/registry.js';
import { auxFlops } from '../../experiments/bench/lib/aux-flops.js';
import { curvesSpec } from '../../experiments/report/plot.js';
import { addConfigOptions } from '../../src/cli/config-flags.js';
import { agentParamCount } from '../../src/config/limits.js';
import { describeAllowed, validateConfig } from '../../src/config/resolve.js';
import type { PartialConfig } from '../../src/config/resolve.js';
import { defaultConfig } from '../../src/config/schema.js';
import { randomBatch, tinyConfig, useBackend } from './helpers.js';

/**
 * An objective is one descriptor plus one registration. A throwaway objective,
 * registered here before anything reads the registry (vi.hoisted runs before
 * this file's imports), is picked up by the config schema, --help, the memory
 * check's parameter count, bench update's FLOP count and the report, with no
 * edit anywhere else, and trains through the real agent.
 */
const throwaway = await vi.hoisted(async () => {
  const { z } = await import('zod');
  const descriptors = await import('../../agents/aux/descriptor.js');
  const { registerAuxObjective: register } = await import('../../agents/aux/registry.js');
  // the momentum encoder's latent of the positive crop, predicted linearly from the anchor's
  const needs = { onlinePos: false, targetPos: true, targetObs: false } as const;
  const descriptor = descriptors.defineAuxObjective({
    name: 'throwaway',
    options: { auxThrowawayWeight: descriptors.optionalAuxOption(z.number().positive().max(10), 'weight of the throwaway loss', 0.5) },
    needs,
    metrics: ['auxLoss', 'auxGradNorm'],
    report: { rank: 7, color: '#000000' },
    paramCount: ({ latentDim }) => latentDim * latentDim,
    flops: ({ latentDim, batch, rows, row }) => {
      const encoder = descriptors.encoderFlops(needs, rows, row);
      return { conv: encoder.conv, dense: encoder.dense + 3 * 2 * batch * latentDim * latentDim };
    },
    load: async () => {
      const tfjs = await import('@tensorflow/tfjs');
      const { latent } = await import('../../agents/networks.js');
      const { orthogonalFast } = await import('../../agents/init.js');
      const { variableFrom } = await import('../../agents/params.js');
      return {
        create: ({ name, latentDim: L, options, params, rng }) => {
          params.set('throwaway.w', variableFrom(tfjs.tensor2d(orthogonalFast(L, L, rng), [L, L])));
          return {
            name,
            ownNames: ['throwaway.w'],
            optimizerKey: 'throwaway',
            metricPrefix: 'aux',
            loss: (inputs) => {
              const zA = latent(inputs.uA, inputs.params, 'critic');
              const zK = latent(inputs.uPosT!, inputs.fixed, 'target.critic');
              const error = tfjs.sub(tfjs.matMul(zA, inputs.params.get('throwaway.w') as tf.Tensor2D), zK);
              return tfjs.mul(tfjs.mean(tfjs.square(error)), options.auxThrowawayWeight) as tf.Scalar;
            },
          };
        },
      };
    },
  });
  register(descriptor);
  return descriptor;
});

afterAll(async () => useBackend('wasm'));

const spec = { obsShape: [12, 12, 3] as [number, number, number], actionDim: 2 };
/** Validates fields the Config type cannot know (the throwaway's option). */
const validate = (fields: Record<string, unknown>): Record<string, unknown> => validateConfig(fields as PartialConfig);
const cfg = (aux: string, over: Record<string, unknown> = {}): AgentConfig => ({ ...tinyConfig({ auxHiddenDim: 5, auxProjDim: 4 }), aux, ...over }) as AgentConfig;

describe('a registered objective needs no other edit', () => {
  it('the registry refuses a registration once it has been read', () => {
    expect(auxObjectives().map((d) => d.name)).toContain('throwaway');
    expect(() => registerAuxObjective({ ...throwaway, name: 'late' })).toThrow(/has been read already/);
  });

  it('the config schema takes its name and its option, with the option rule both ways', () => {
    expect(describeAllowed('aux')).toMatch(/one of curl, .*, throwaway$/);
    const ok = validate({ aux: 'throwaway', auxThrowawayWeight: 2 });
    expect(ok).toMatchObject({ aux: 'throwaway', auxThrowawayWeight: 2 });
    expect(Object.hasOwn(validate({ aux: 'throwaway' }), 'auxThrowawayWeight')).toBe(false);
    expect(() => validate({ aux: 'throwaway', auxThrowawayWeight: 0 })).toThrow(/--aux-throwaway-weight \(auxThrowawayWeight\) = 0 is invalid/);
    expect(() => validate({ aux: 'curl', auxThrowawayWeight: 2 })).toThrow(/auxThrowawayWeight is read only by --aux throwaway, not by --aux curl/);
    expect(() => validate({ aux: 'throwaway', auxTemperature: 0.2 })).toThrow(/auxTemperature is read only by --aux simclr or memory-bank or mochi or swav, not by --aux throwaway/);
    expect(() => validate({ aux: 'throwaway', auxQueue: 4 })).toThrow(/auxQueue \(4\) sets the queue of past momentum-encoder keys; it needs --aux curl, curl-debiased, curl-hard, nce, mochi, not --aux throwaway/);
  });

  it('--help lists it and documents its flag', () => {
    const help = addConfigOptions(new Command('train')).helpInformation().replace(/\s+/g, ' ');
    expect(help).toMatch(/--aux <value> auxiliary loss: curl \(CURL\), none \(pixel SAC\), .*, throwaway \(see agents\/README\.md\)/);
    expect(help).toContain('--aux-throwaway-weight <value> throwaway: weight of the throwaway loss (default 0.5)');
  });

  it("the memory check counts its parameters as the agent creates them", async () => {
    await useBackend('cpu');
    const config = { ...defaultConfig(), aux: 'throwaway', cropSize: 20, frameStack: 2, numConvLayers: 3, numFilters: 5, latentDim: 7, hiddenDim: 11 };
    const agent = createAgent({ ...config, convEngine: 'tfjs', convWorkers: 0 }, { obsShape: [20, 20, 6], actionDim: 3 }, 1);
    const state = await agent.getState();
    agent.dispose();
    expect(state.params['throwaway.w']!.shape).toEqual([7, 7]);
    const count = Object.values(state.params).reduce((sum, r) => sum + r.data.length, 0);
    expect(agentParamCount(config, 3)).toBe(count);
    expect(agentParamCount(config, 3)).toBe(agentParamCount({ ...config, aux: 'none' }, 3) + 49);
  });

  it("bench update's FLOP count is its descriptor's", () => {
    const row = { convFwd: 1000, convBwd: 1800, head: 100 };
    const encoder = encoderFlops(throwaway.needs, 3 * 4, row);
    expect(auxFlops(cfg('throwaway', { latentDim: 5 }), 4, row, 3)).toEqual({ conv: encoder.conv, dense: encoder.dense + 3 * 2 * 4 * 25 });
    expect(encoder).toEqual({ conv: 12 * (1000 + 1800), dense: 12 * 300 });
  });

  it('the report ranks it after the built-in objectives and draws it in its colour', () => {
    expect(auxReport('throwaway')).toEqual({ rank: 7, color: '#000000' });
    const points = [{ envStep: 0, mean: 1, std: 1, lo: 0, hi: 2, n: 2 }];
    const spec = curvesSpec([{ env: 'toy', variant: 'throwaway', aux: 'throwaway', seeds: 2, points }, { env: 'toy', variant: 'gone', aux: 'gone', seeds: 2, points }], { band: 'std' }) as unknown as {
      spec: { layer: Array<{ encoding: { color: { scale: { domain: string[]; range: string[] } } } }> };
    };
    expect(spec.spec.layer[0]!.encoding.color.scale).toEqual({ domain: ['gone', 'throwaway'], range: ['#7f7f7f', '#000000'] });
  });

  it('trains through the real agent: its parameter learns, its option reaches its loss, its state round-trips', async () => {
    await useBackend('wasm');
    const losses: Record<number, number[]> = {};
    for (const weight of [1, 2]) {
      const agent = createAgent(cfg('throwaway', { auxThrowawayWeight: weight }), spec, 4);
      const before = (await agent.getState()).params['throwaway.w']!.data;
      losses[weight] = [];
      for (let step = 0; step < 3; step++) {
        const metrics = await agent.update(randomBatch(10 + step, 6, 12, 3, 2), step);
        losses[weight].push(metrics.auxLoss!);
      }
      const state = await agent.getState();
      expect(state.optimizers).toHaveProperty('throwaway');
      expect(state.params['throwaway.w']!.data).not.toEqual(before);
      const copy = createAgent(cfg('throwaway', { auxThrowawayWeight: weight }), spec, 99);
      copy.setState(state);
      const [next, nextCopy] = [await agent.update(randomBatch(20, 6, 12, 3, 2), 3), await copy.update(randomBatch(20, 6, 12, 3, 2), 3)];
      expect(nextCopy).toEqual(next);
      agent.dispose();
      copy.dispose();
    }
    // same seed and batches: the first update's loss is linear in the weight
    expect(losses[2]![0]).toBeCloseTo(2 * losses[1]![0]!, 5);
    expect(losses[1]!.every(Number.isFinite)).toBe(true);
    expect(() => createAgent(cfg('throwaway', { auxThrowawayWeight: -1 }), spec, 1)).toThrow(/auxThrowawayWeight -1 is invalid for aux 'throwaway'/);
    expect(() => createAgent(cfg('curl', { auxThrowawayWeight: 1 }), spec, 1)).toThrow(/auxThrowawayWeight is read only by aux throwaway, not 'curl'/);
  }, 60_000);
});

describe('the registry against the code it describes', () => {
  it('every objective writes exactly the metrics its descriptor lists, beyond what pixel SAC writes', async () => {
    await useBackend('wasm');
    const batch = randomBatch(3, 6, 12, 3, 2);
    const written = async (aux: string): Promise<string[]> => {
      const agent = createAgent(cfg(aux), spec, 2);
      const metrics = await agent.update(batch, 0);
      agent.dispose();
      return Object.keys(metrics);
    };
    const base = new Set(await written('none'));
    for (const d of auxObjectives()) {
      expect((await written(d.name)).filter((k) => !base.has(k)).sort(), d.name).toEqual([...d.metrics].sort());
    }
  }, 60_000);

  it('the registry, the schema, the memory check and the report load no tfjs; the agent side does', () => {
    const url = (path: string) => JSON.stringify(pathToFileURL(path).href);
    const probe = `
      import { createRequire } from 'node:module';
      const cache = createRequire(import.meta.url).cache;
      const tfjsFiles = () => Object.keys(cache).filter((k) => k.includes('@tensorflow')).length;
      for (const m of [${['agents/aux/registry.ts', 'src/config/schema.ts', 'src/config/limits.ts', 'experiments/report/summarize.ts'].map(url).join()}]) await import(m);
      const light = tfjsFiles();
      await import(${url('agents/aux/index.ts')});
      console.log(JSON.stringify([light, tfjsFiles()]));`;
    const [light, agentSide] = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { encoding: 'utf8' })) as [number, number];
    expect(light).toBe(0);
    expect(agentSide).toBeGreaterThan(0);
  }, 60_000);

  it('an unknown name is refused with the registered ones', () => {
    expect(() => auxObjective('moco')).toThrow(/aux 'moco' is not a registered objective; one of curl, none, simclr, byol, barlow, curl-debiased, curl-hard, margin, triplet, lifted, n-pair, nce, soft-nn, memory-bank, mochi, swav, throwaway/);
  });
});

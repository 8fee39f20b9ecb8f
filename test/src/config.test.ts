import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { describeAllowed, resolveConfig } from '../../src/config/resolve.js';
import { defaultConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/core/errors.js';
import { configFlags } from '../../src/cli/config-flags.js';
import { main } from '../../src/cli/main.js';

/**
 * What the backend probe finds is set by the test, not by this machine: on one with tfjs-node-gpu and CUDA,
 * the "not available" case below would otherwise start a full-size GPU run.
 */
const machine = vi.hoisted(() => ({ gpuPackage: false, cuda: true }));
vi.mock('../../src/backend.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/backend.js')>();
  const probes = () =>
    real.probeBackends({
      isResolvable: (pkg) => (pkg === '@tensorflow/tfjs-node-gpu' ? machine.gpuPackage : pkg !== '@tensorflow/tfjs-node'),
      cudaDeviceVisible: () => machine.cuda,
    });
  return { ...real, initBackend: (requested: Parameters<typeof real.initBackend>[0], options: Parameters<typeof real.initBackend>[1] = {}) => real.initBackend(requested, { ...options, probes: probes() }) };
});

function presets(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'presets-'));
  for (const [name, value] of Object.entries(files)) writeFileSync(join(dir, `${name}.json`), JSON.stringify(value));
  return dir;
}

describe('config resolution', () => {
  it('defaults are the CURL reference hyperparameters', () => {
    const c = defaultConfig();
    expect(c).toMatchObject({
      imageSize: 100, cropSize: 84, frameStack: 3, replayCapacity: 100_000, initSteps: 1000, batchSize: 512,
      hiddenDim: 1024, latentDim: 50, lr: 1e-3, beta1: 0.9, alphaLr: 1e-4, alphaBeta1: 0.5, initTemperature: 0.1,
      criticTau: 0.01, encoderTau: 0.05, actorUpdateFreq: 2, criticTargetUpdateFreq: 2, discount: 0.99, evalEpisodes: 10,
      aux: 'curl', numConvLayers: 4, numFilters: 32, actorLogStdMin: -10, actorLogStdMax: 2,
    });
  });

  it('applies task preset, then --preset, then flags', () => {
    const dir = presets({ 'cheetah-run': { env: 'cheetah-run', lr: 2e-4, actionRepeat: 4 }, small: { batchSize: 64, actionRepeat: 2 } });
    const task = resolveConfig({ flags: { env: 'cheetah-run' }, presetsDir: dir });
    expect(task.config.lr).toBe(2e-4);
    expect(task.config.actionRepeat).toBe(4);
    const withPreset = resolveConfig({ flags: { env: 'cheetah-run' }, preset: 'small', presetsDir: dir });
    expect(withPreset.config).toMatchObject({ lr: 2e-4, batchSize: 64, actionRepeat: 2 });
    const withFlags = resolveConfig({ flags: { env: 'cheetah-run', actionRepeat: 8, lr: 1e-3 }, preset: 'small', presetsDir: dir });
    expect(withFlags.config).toMatchObject({ lr: 1e-3, batchSize: 64, actionRepeat: 8 });
  });

  it('a preset naming its env selects that task preset', () => {
    const dir = presets({ 'walker-walk': { env: 'walker-walk', actionRepeat: 2 }, mine: { env: 'walker-walk', batchSize: 32 } });
    expect(resolveConfig({ preset: 'mine', presetsDir: dir }).config).toMatchObject({ env: 'walker-walk', actionRepeat: 2, batchSize: 32 });
  });

  it('bad values name the field, the value and what is allowed', () => {
    const run = () => resolveConfig({ flags: { batchSize: -3 }, presetsDir: presets({}) });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/--batch-size \(batchSize\) = -3 .*allowed: an integer >= 2 and <= 4096/);
    expect(() => resolveConfig({ flags: { aux: 'moco' }, presetsDir: presets({}) })).toThrow(/--aux \(aux\) = "moco".*one of curl, none, simclr, byol, barlow, curl-debiased, curl-hard/);
    expect(() => resolveConfig({ flags: { cropSize: 120 }, presetsDir: presets({}) })).toThrow(/cropSize \(120\) must not exceed imageSize \(100\)/);
  });

  it('a preset with an unknown field or a bad value is refused, naming the file', () => {
    const dir = presets({ typo: { batchsize: 64 }, bad: { lr: -1 } });
    expect(() => resolveConfig({ preset: 'typo', presetsDir: dir })).toThrow(/typo\.json has unknown field\(s\) 'batchsize'/);
    expect(() => resolveConfig({ preset: 'bad', presetsDir: dir })).toThrow(/preset field 'lr' \(lr\) = -1/);
    expect(() => resolveConfig({ preset: 'missing', presetsDir: dir })).toThrow(/Unknown preset 'missing'/);
  });

  it('flags are parsed by the field type', () => {
    expect(configFlags({ batchSize: '64', lr: '3e-4', aux: 'none', saveReplay: false })).toEqual({ batchSize: 64, lr: 3e-4, aux: 'none', saveReplay: false });
    expect(() => configFlags({ batchSize: 'many' })).toThrow(/--batch-size \(batchSize\) = "many" is not a whole number written in decimal digits/);
    expect(describeAllowed('backend')).toBe('one of auto, tensorflow-gpu, tensorflow, wasm, cpu');
  });

  it('aux options: each is read by its objectives only, with clear errors otherwise', () => {
    const dir = presets({});
    const ok = (flags: Record<string, unknown>) => resolveConfig({ flags, presetsDir: dir }).config;
    expect(ok({ aux: 'simclr', auxTemperature: 0.5 })).toMatchObject({ aux: 'simclr', auxTemperature: 0.5, auxQueue: 0 });
    expect(ok({ aux: 'curl-hard', auxBeta: 2, auxTauPlus: 0.1, auxQueue: 64 })).toMatchObject({ auxBeta: 2, auxTauPlus: 0.1, auxQueue: 64 });
    expect(ok({ aux: 'curl', auxQueue: 128 }).auxQueue).toBe(128);
    expect(() => ok({ aux: 'simclr', auxQueue: 16 })).toThrow(/auxQueue \(16\) sets the queue of past momentum-encoder keys; it needs --aux curl, curl-debiased, curl-hard, nce, mochi, not --aux simclr/);
    expect(() => ok({ aux: 'simclr', auxTemperature: -0.1 })).toThrow(/--aux-temperature \(auxTemperature\) = -0.1/);
    expect(() => ok({ aux: 'simclr', auxTemperature: 0 })).toThrow(/auxTemperature/);
    expect(() => ok({ aux: 'curl', auxTemperature: 0.2 })).toThrow(/auxTemperature is read only by --aux simclr or memory-bank or mochi or swav, not by --aux curl/);
    expect(() => ok({ aux: 'curl-debiased', auxBeta: 1 })).toThrow(/auxBeta is read only by --aux curl-hard/);
    expect(() => ok({ aux: 'byol', auxLambda: 0.01 })).toThrow(/auxLambda is read only by --aux barlow/);
    expect(() => ok({ aux: 'curl-debiased', auxTauPlus: 1 })).toThrow(/auxTauPlus/);
  });

  it('the CLI exits 2 on a bad value and on an unknown flag', async () => {
    const errors: string[] = [];
    const original = console.error;
    const originalWrite = process.stderr.write.bind(process.stderr);
    console.error = (...args: unknown[]) => errors.push(args.join(' '));
    process.stderr.write = ((chunk: string) => (errors.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      expect(await main(['config', '--batch-size', '-3'])).toBe(2);
      expect(errors.join('\n')).toMatch(/batchSize/);
      expect(await main(['config', '--no-such-flag', '1'])).toBe(2);
      expect(errors.join('\n')).toMatch(/unknown option '--no-such-flag'/);
      expect(await main(['config', '--aux', 'byol', '--aux-queue', '8'])).toBe(2);
      expect(errors.join('\n')).toMatch(/auxQueue \(8\) sets the queue of past momentum-encoder keys/);
      // a CUDA machine without the package, then the package without a driver: exit 3 either way, before any run starts
      Object.assign(machine, { gpuPackage: false, cuda: true });
      expect(await main(['train', '--backend', 'tensorflow-gpu', '--env', 'cartpole-swingup'])).toBe(3);
      expect(errors.join('\n')).toMatch(/'tensorflow-gpu' backend is not available: @tensorflow\/tfjs-node-gpu is not installed\. .*npm install @tensorflow\/tfjs-node-gpu/);
      errors.length = 0;
      Object.assign(machine, { gpuPackage: true, cuda: false });
      expect(await main(['train', '--backend', 'tensorflow-gpu', '--env', 'cartpole-swingup'])).toBe(3);
      expect(errors.join('\n')).toMatch(/is installed but no NVIDIA driver is visible/);
    } finally {
      console.error = original;
      process.stderr.write = originalWrite;
    }
  });
});

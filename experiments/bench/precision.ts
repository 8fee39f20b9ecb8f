/*
 * bf16 against fp32 on the same updates (the libtorch engine): a trainer fills
 * its replay buffer with the task's rendered frames under random actions; then
 * for each sampled batch an fp32 and a bf16 agent, both at the fp32 agent's
 * state of that moment, take the same update. Prints one JSON line: per loss
 * (critic, actor, aux) the cosine similarity of bf16's gradient with fp32's
 * over every tensor of every update (min, 1st percentile, median, the worst
 * tensor), and per update metric (losses, Q, target) the relative error
 * (median, max).
 *
 *   npm run bench -- precision                         (cartpole-swingup-paper, CURL, 200 updates)
 *   npm run bench -- precision --updates 50 --aux none
 *
 * Flags: --env cartpole-swingup  --preset cartpole-swingup-paper  --aux curl  --updates 200
 *        --batch-size (the preset's)  --init-steps 1000 (random steps that fill the buffer)  --seed 1
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { loadConvAddon } from '../../agents/native/addon.js';
import { initBackend } from '../../src/backend.js';
import { resolveConfig } from '../../src/config/resolve.js';
import type { PartialConfig } from '../../src/config/resolve.js';
import { BackendUnavailableError, ConfigError } from '../../src/core/errors.js';
import { comparePrecisions } from './lib/precision-compare.js';
import { presetRunOptions } from './lib/preset-flags.js';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...presetRunOptions,
      updates: { type: 'string', default: '200' },
      'batch-size': { type: 'string' },
      'init-steps': { type: 'string', default: '1000' },
    },
  });
  const updates = Number(values.updates);
  if (!Number.isInteger(updates) || updates < 1) throw new ConfigError(`bench precision: --updates must be an integer >= 1, got '${values.updates}'`);
  const addon = loadConvAddon();
  if (!addon.available) throw new BackendUnavailableError(`bench precision needs the libtorch engine: ${addon.reason}`);
  if (addon.info.bf16 === 'unsupported') throw new BackendUnavailableError(`bench precision: libtorch cannot run bf16 on this CPU (${addon.info.bf16Why})`);
  const flags: PartialConfig = {
    env: values.env, aux: values.aux, seed: Number(values.seed), initSteps: Number(values['init-steps']), backend: 'wasm',
    ...(values['batch-size'] !== undefined ? { batchSize: Number(values['batch-size']) } : {}),
  };
  const { config } = resolveConfig({ flags, preset: values.preset });
  await initBackend(config.backend);
  const started = performance.now();
  const result = await comparePrecisions(config, updates);
  const round = (x: number) => Number(x.toPrecision(6));
  console.log(JSON.stringify({
    bench: 'precision', env: config.env, preset: values.preset, aux: config.aux, batchSize: config.batchSize,
    torchVersion: addon.info.torchVersion, bf16: addon.info.bf16, updates: result.updates,
    gradientCosine: Object.fromEntries(Object.entries(result.gradientCosine).map(([k, v]) => [k, { ...v, min: round(v.min), p1: round(v.p1), median: round(v.median) }])),
    metricRelError: Object.fromEntries(Object.entries(result.metricRelError).map(([k, v]) => [k, { median: round(v.median), max: round(v.max) }])),
    seconds: Math.round((performance.now() - started) / 100) / 10, loadavg1: Number((os.loadavg()[0] ?? 0).toFixed(2)),
  }));
}

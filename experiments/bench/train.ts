/*
 * The whole training loop at a preset's settings: after the random initial
 * steps, N agent steps with an update each, timed end to end. Prints one JSON
 * line: updates/s, and the mean milliseconds of an agent step spent in the
 * update, acting, the environment (physics + rendering), replay (store,
 * sample, augment) and everything else, with the share outside the update.
 * No evaluation or checkpoint runs inside the timed window.
 *
 *   npm run bench -- train                                  (cartpole-swingup-paper, CURL, 100 updates)
 *   npm run bench -- train --updates 300 --aux none
 *   npm run bench -- train --env walker-walk --preset walker-walk --updates 50
 *
 * Flags: --env cartpole-swingup  --preset cartpole-swingup-paper  --aux curl  --updates 100 (timed)
 *        --warmup 5 (updates before timing)  --seed 1  --conv-engine auto|libtorch|tfjs  --conv-workers N
 *        --backend auto|wasm|cpu|...  --precision fp32|bf16|auto
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../../src/backend.js';
import { resolveConfig } from '../../src/config/resolve.js';
import type { PartialConfig } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/core/errors.js';
import { buildTrainer } from '../../src/loop/trainer.js';
import { stepPhases } from '../../src/loop/step-times.js';
import { MetricsLog } from '../../src/run/metrics.js';
import { presetRunOptions } from './lib/preset-flags.js';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...presetRunOptions,
      updates: { type: 'string', default: '100' },
      warmup: { type: 'string', default: '5' },
      'conv-engine': { type: 'string', default: 'auto' },
      'conv-workers': { type: 'string' },
      backend: { type: 'string', default: 'auto' },
      precision: { type: 'string', default: 'fp32' },
    },
  });
  const updates = Number(values.updates);
  const warmup = Number(values.warmup);
  if (!Number.isInteger(updates) || updates < 1 || !Number.isInteger(warmup) || warmup < 0) {
    throw new ConfigError(`bench train: --updates must be an integer >= 1 and --warmup >= 0, got '${values.updates}' and '${values.warmup}'`);
  }
  const flags: PartialConfig = {
    env: values.env, aux: values.aux, seed: Number(values.seed), convEngine: values['conv-engine'], backend: values.backend, precision: values.precision,
    ...(values['conv-workers'] !== undefined ? { convWorkers: Number(values['conv-workers']) } : {}),
  };
  const { config: resolved } = resolveConfig({ flags, preset: values.preset });
  // evaluation and checkpoints stay outside the timed window; the run ends with the bench
  const steps = (resolved.initSteps + warmup + updates + 1) * resolved.actionRepeat;
  const config = { ...resolved, steps, evalEvery: steps * 10, checkpointEvery: steps * 10, logEvery: steps * 10 };
  const backend = await initBackend(config.backend);
  const runDir = mkdtempSync(join(os.tmpdir(), 'curl-rl-bench-train-'));
  const trainer = await buildTrainer(config, runDir, new MetricsLog(runDir));
  try {
    while (trainer.updates < warmup) await trainer.stepOnce();
    trainer.stepTimes.reset();
    const first = trainer.updates;
    while (trainer.updates < first + updates) await trainer.stepOnce();
    const { steps: timed, ms } = trainer.stepTimes.snapshot();
    const perStep = (v: number) => Math.round((v / timed) * 10) / 10;
    const outside = ms.total - ms.update;
    console.log(JSON.stringify({
      bench: 'train', env: config.env, preset: values.preset, aux: config.aux, backend: backend.name,
      convEngine: trainer.agent.convEngine.engine, precision: trainer.agent.convEngine.precision, threads: trainer.agent.convEngine.threads, batchSize: config.batchSize,
      updates: trainer.updates - first, agentSteps: timed,
      updatesPerSec: Math.round(((trainer.updates - first) / (ms.total / 1000)) * 100) / 100,
      stepMs: Object.fromEntries([...stepPhases.filter((p) => p !== 'eval' && p !== 'checkpoint'), 'other', 'total'].map((p) => [p, perStep(ms[p as keyof typeof ms])])),
      outsideUpdateShare: Math.round((outside / ms.total) * 1000) / 1000,
      loadavg1: Number((os.loadavg()[0] ?? 0).toFixed(2)),
    }));
  } finally {
    await trainer.close();
    trainer.agent.dispose();
    rmSync(runDir, { recursive: true, force: true });
  }
}

// bf16 against fp32 on the same updates: a trainer fills its replay buffer
// with the task's rendered frames (random actions), then for each sampled
// batch an fp32 agent and a bf16 agent, both holding the fp32 agent's state
// of that moment, take the same update. Compared: every gradient tensor of
// every loss (cosine similarity) and every update metric (relative error).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { CurlSacAgent, UpdateMetrics } from '../../../agents/index.js';
import { buildAugmentation } from '../../../replay/aug-spec.js';
import { createAgent } from '../../../src/agent.js';
import type { Config } from '../../../src/config/schema.js';
import { Rng } from '../../../src/core/rng.js';
import { buildTrainer } from '../../../src/loop/trainer.js';
import { MetricsLog } from '../../../src/run/metrics.js';

type Loss = 'critic' | 'actor' | 'aux';

export interface PrecisionComparison {
  updates: number;
  /** Per loss: cosine similarity of bf16's gradient with fp32's, over every tensor of every update. */
  gradientCosine: Record<Loss, { tensors: number; min: number; p1: number; median: number; worst: string }>;
  /**
   * Per update metric: |bf16 - fp32| over the updates, relative to the RMS of
   * fp32's values of that metric (a per-update ratio is meaningless where a
   * metric crosses zero, as Q does early in training); 0 for a constant zero.
   */
  metricRelError: Record<string, { median: number; max: number }>;
}

function copyGrads(grads: ReadonlyMap<string, tf.Tensor>): Map<string, Float32Array> {
  return new Map([...grads].map(([n, g]) => [n, Float32Array.from(g.dataSync() as Float32Array)]));
}

function cosine(a: Float32Array, b: Float32Array): number | null {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  // a gradient that is exactly zero in fp32 (a dead unit) has no direction to compare
  if (na === 0 || nb === 0) return null;
  return dot / Math.sqrt(na * nb);
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function hook(agent: CurlSacAgent, into: Map<Loss, Map<string, Float32Array>>): void {
  agent.onCriticGradients = (g) => into.set('critic', copyGrads(g));
  agent.onActorGradients = (g) => into.set('actor', copyGrads(g));
  agent.onAuxGradients = (g) => into.set('aux', copyGrads(g));
}

/** `config` is a run's config (its task, sizes and batch); both agents run on the libtorch engine. */
export async function comparePrecisions(config: Config, updates: number): Promise<PrecisionComparison> {
  const runDir = mkdtempSync(join(os.tmpdir(), 'curl-rl-precision-'));
  // no evaluation, checkpoint or log record falls inside the random steps: every period is past the end
  const steps = (config.initSteps + 1) * config.actionRepeat * 10;
  const base = { ...config, convEngine: 'libtorch' as const, steps, evalEvery: steps, checkpointEvery: steps, logEvery: steps };
  const trainer = await buildTrainer({ ...base, precision: 'fp32' }, runDir, new MetricsLog(runDir));
  const bf16 = createAgent({ ...base, precision: 'bf16', convWorkers: trainer.agent.convEngine.threads - 1 }, trainer.agent.spec, config.seed);
  try {
    while (trainer.agentStep < trainer.randomUntil) await trainer.stepOnce();
    const fp32 = trainer.agent;
    const grads = { fp32: new Map<Loss, Map<string, Float32Array>>(), bf16: new Map<Loss, Map<string, Float32Array>>() };
    hook(fp32, grads.fp32);
    hook(bf16, grads.bf16);
    const cosines: Record<Loss, Array<[number, string]>> = { critic: [], actor: [], aux: [] };
    const pairs: Record<string, Array<[number, number]>> = {};
    const augmentation = buildAugmentation(config.aug, config.imageSize, config.cropSize);
    const rng = new Rng(`precision-${config.seed}`);
    for (let i = 0; i < updates; i++) {
      const batch = trainer.replay.sample(config.batchSize, rng, {
        cropSize: config.cropSize, augmentation, obsViews: config.augM, nextViews: config.augK, positive: config.aux !== 'none',
      });
      bf16.setState(await fp32.getState());
      grads.fp32.clear();
      grads.bf16.clear();
      const m32: UpdateMetrics = await fp32.update(batch, i);
      const m16: UpdateMetrics = await bf16.update(batch, i);
      for (const [loss, g32] of grads.fp32) {
        const g16 = grads.bf16.get(loss)!;
        for (const [name, a] of g32) {
          const c = cosine(a, g16.get(name)!);
          if (c !== null) cosines[loss].push([c, name]);
        }
      }
      for (const [k, v] of Object.entries(m32)) (pairs[k] ??= []).push([v, m16[k]!]);
    }
    const summary = (list: Array<[number, string]>) => {
      const sorted = [...list].sort((x, y) => x[0] - y[0]);
      const values = sorted.map(([c]) => c);
      return sorted.length === 0
        ? { tensors: 0, min: 1, p1: 1, median: 1, worst: '' }
        : { tensors: sorted.length, min: values[0]!, p1: quantile(values, 0.01), median: quantile(values, 0.5), worst: sorted[0]![1] };
    };
    return {
      updates,
      gradientCosine: { critic: summary(cosines.critic), actor: summary(cosines.actor), aux: summary(cosines.aux) },
      metricRelError: Object.fromEntries(Object.entries(pairs).map(([k, v]) => {
        const rms = Math.sqrt(v.reduce((sum, [a]) => sum + a * a, 0) / v.length);
        const sorted = v.map(([a, b]) => (rms === 0 ? Math.abs(b - a) : Math.abs(b - a) / rms)).sort((x, y) => x - y);
        return [k, { median: quantile(sorted, 0.5), max: sorted.at(-1)! }];
      })),
    };
  } finally {
    bf16.dispose();
    await trainer.close();
    trainer.agent.dispose();
    rmSync(runDir, { recursive: true, force: true });
  }
}

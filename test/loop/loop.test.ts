import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentState } from '../../agents/index.js';
import { latestCheckpoint, readMsgpackFile } from '../../src/loop/checkpoint.js';
import { train } from '../../src/loop/train.js';
import type { Trainer } from '../../src/loop/trainer.js';
import { readMetrics, type MetricsRecord } from '../../src/run/metrics.js';
import { readStatus } from '../../src/run/status.js';
import { comparable, gifFrameCount, tempDir, tinyConfig } from './helpers.js';

const quiet = { progress: 'none' as const, log: () => {} };

function ofType<T extends MetricsRecord['type']>(records: MetricsRecord[], type: T): Extract<MetricsRecord, { type: T }>[] {
  return records.filter((r): r is Extract<MetricsRecord, { type: T }> => r.type === type);
}

describe('training loop', () => {
  it('writes typed records with both step counters, consistent with the config', async () => {
    const config = tinyConfig({ backend: 'wasm', steps: 1200, evalEvery: 400, logEvery: 100 });
    const outcome = await train({ config, runDir: join(tempDir(), 'run'), ...quiet });
    const records = readMetrics(join(outcome.runDir, 'metrics.jsonl'));
    for (const r of records) {
      expect(r.envStep).toBe(r.agentStep * config.actionRepeat);
      expect(typeof r.wallTime).toBe('number');
    }
    const trains = ofType(records, 'train');
    expect(trains.map((r) => r.envStep)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200]);
    // Updates start after initSteps (60 agent steps = 240 env steps): one update per agent step after that.
    for (const r of trains) expect(r.updates).toBe(Math.max(0, r.agentStep - config.initSteps));
    const updated = trains.filter((r) => r.updates > 0);
    for (const r of updated) {
      for (const field of ['criticLoss', 'qMean', 'alpha', 'curlLoss', 'curlAccuracy']) expect(Number.isFinite(r[field])).toBe(true);
      expect(r.envStepsPerSec).toBeGreaterThan(0);
      // CURL is alive in the loop: a real gradient every window (on a featureless floor it can be exactly 0)
      expect(r.curlGradNorm).toBeGreaterThan(1e-3);
    }
    // ...and its accuracy is not pinned to 1/B (all logits tied, as on a featureless floor)
    expect(updated.some((r) => r.curlAccuracy !== 1 / config.batchSize)).toBe(true);
    const episodes = ofType(records, 'episode');
    // toy-reach: 1000 control steps per episode / action repeat 4 = 250 agent steps, truncated.
    expect(episodes.map((e) => [e.episode, e.length, e.envStep])).toEqual([[0, 250, 1000]]);
    const evals = ofType(records, 'eval');
    expect(evals.map((e) => e.envStep)).toEqual([0, 400, 800, 1200]);
    for (const e of evals) {
      expect(e.returns).toHaveLength(config.evalEpisodes);
      expect(e.mean).toBeCloseTo(e.returns!.reduce((a, b) => a + b, 0) / e.returns!.length, 10);
    }
    // every checkpointEvery (320 env steps) and a final one at the end
    expect(ofType(records, 'checkpoint').map((c) => c.envStep)).toEqual([320, 640, 960, 1200]);
    expect(readStatus(outcome.runDir)).toMatchObject({ state: 'finished', agentStep: 300, envStep: 1200 });
  });

  it('CURL trains in the loop: its optimiser steps every update, and the encoder ends unlike an aux-none run of the same seed', async () => {
    const config = tinyConfig({ backend: 'wasm', steps: 100 * 4, evalEvery: 100_000 });
    const encoders = [];
    for (const aux of ['curl', 'none'] as const) {
      const run = await train({ config: { ...config, aux }, runDir: join(tempDir(), aux), ...quiet });
      expect(run).toMatchObject({ state: 'finished', agentStep: 100 });
      const state = readMsgpackFile<AgentState>(join(latestCheckpoint(run.runDir)!, 'agent.msgpack'));
      encoders.push(Float32Array.from(state.params['conv.w0']!.data));
      // the CURL optimiser took one step per update (40 after the 60 random steps), with a real gradient in its moments
      const curlOpt = state.optimizers['curl'];
      if (aux === 'none') expect(curlOpt).toBeUndefined();
      else {
        expect(curlOpt?.t).toBe(100 - config.initSteps);
        expect(state.optimizers['critic']?.t).toBe(100 - config.initSteps);
        expect(Array.from(curlOpt!.m['conv.w0']!).some((v) => Math.abs(v) > 1e-8)).toBe(true);
      }
    }
    const [curl, none] = encoders as [Float32Array, Float32Array];
    expect(curl.length).toBe(none.length);
    // not float noise: a visible share of the first layer's weights moved apart
    const differing = curl.filter((v, i) => Math.abs(v - none[i]!) > 1e-5).length;
    expect(differing / curl.length).toBeGreaterThan(0.1);
  });

  it('evaluation never changes the training state', async () => {
    const config = tinyConfig({ backend: 'wasm', steps: 800 });
    const often = await train({ config: { ...config, evalEvery: 100, evalEpisodes: 2 }, runDir: join(tempDir(), 'often'), ...quiet });
    const rarely = await train({ config: { ...config, evalEvery: 100_000 }, runDir: join(tempDir(), 'rarely'), ...quiet });
    const strip = (dir: string) => comparable(readMetrics(join(dir, 'metrics.jsonl'))).filter((r) => r.type !== 'eval');
    expect(ofType(readMetrics(join(often.runDir, 'metrics.jsonl')), 'eval').length).toBe(9);
    expect(strip(often.runDir)).toEqual(strip(rarely.runDir));

    // And directly: the agent's full state (weights, optimiser slots, its Rng)
    // and the loop's Rng and counters are identical before and after each evaluation.
    const snapshot = async (t: Trainer) => ({
      agent: await t.agent.getState(),
      rng: (t as unknown as { rng: { getState(): unknown } }).rng.getState(),
      counters: [t.agentStep, t.envStep, t.updates],
    });
    const checks: Array<[unknown, unknown]> = [];
    await train({
      config: { ...config, steps: 400 },
      runDir: join(tempDir(), 'direct'),
      ...quiet,
      onStart: (t) => {
        const evaluate = t.evaluate.bind(t);
        t.evaluate = async () => {
          const before = await snapshot(t);
          const record = await evaluate();
          checks.push([before, await snapshot(t)]);
          return record;
        };
      },
    });
    expect(checks).toHaveLength(2); // env steps 0 and 400; the second after 40 updates
    for (const [before, after] of checks) expect(after).toEqual(before);
  });

  it('a crashing environment ends the run with a checkpoint and a non-zero exit code that says why', async () => {
    const config = tinyConfig({ backend: 'wasm', steps: 2000 });
    const outcome = await train({
      config,
      runDir: join(tempDir(), 'crash'),
      ...quiet,
      onStart: (trainer) => {
        const env = (trainer as unknown as { env: { step(a: Float32Array): unknown } }).env;
        const step = env.step.bind(env);
        let calls = 0;
        env.step = (action: Float32Array) => {
          calls += 1;
          if (calls === 150) throw new Error('simulated physics crash');
          return step(action);
        };
      },
    });
    expect(outcome.state).toBe('failed');
    expect(outcome.exitCode).not.toBe(0);
    expect(outcome.reason).toMatch(/toy-reach' failed at agent step 149: simulated physics crash/);
    expect(readStatus(outcome.runDir)).toMatchObject({ state: 'failed', agentStep: 149 });
    const checkpoint = latestCheckpoint(outcome.runDir)!;
    expect(checkpoint).toMatch(/ckpt-000000149$/);
    // The run can be resumed from it.
    const resumed = await train({ resume: outcome.runDir, resumeOverrides: { steps: 700 }, ...quiet });
    expect(resumed.state).toBe('finished');
  });

  it('a non-finite loss stops the run, names the loss and keeps only the checkpoint from before it', async () => {
    const config = tinyConfig({ backend: 'wasm', steps: 2000, checkpointEvery: 400 });
    const outcome = await train({
      config,
      runDir: join(tempDir(), 'nan'),
      ...quiet,
      onStart: (trainer) => {
        const agent = trainer.agent;
        const update = agent.update.bind(agent);
        agent.update = async (batch, step) => {
          const metrics = await update(batch, step);
          return step === 80 ? { ...metrics, criticLoss: Number.NaN } : metrics;
        };
      },
    });
    expect(outcome.state).toBe('failed');
    expect(outcome.exitCode).toBe(1);
    expect(outcome.reason).toMatch(/criticLoss became NaN at update 80/);
    // Update 80 happens at agent step 141; the last checkpoint is the periodic one at env step 400 (agent step 100).
    expect(latestCheckpoint(outcome.runDir)).toMatch(/ckpt-000000100$/);
    expect(existsSync(join(outcome.runDir, 'status.json'))).toBe(true);
  });
});

describe('training on a remote env', () => {
  it('restarts a crashed remote process, records it, and finishes the run', async () => {
    const { testServerCommand } = await import('../../envs/remote/index.js');
    const config = tinyConfig({
      backend: 'wasm',
      env: 'remote',
      remoteCmd: testServerCommand(['--size', '16', '--crash-after', '100', '--episode-length', '60']),
      actionRepeat: 1,
      steps: 250,
      evalEvery: 100_000,
      checkpointEvery: 100_000,
      logEvery: 50,
    });
    const outcome = await train({ config, runDir: join(tempDir(), 'remote'), ...quiet });
    expect(outcome.state).toBe('finished');
    const records = readMetrics(join(outcome.runDir, 'metrics.jsonl'));
    const restarts = ofType(records, 'restart');
    expect(restarts.map((r) => [r.agentStep, r.restarts])).toEqual([[100, 1], [200, 2]]);
    expect(restarts[0]!.error).toMatch(/exit|crash/i);
    // The crash cut an episode short: no transition was made up for it, the next episode starts fresh.
    const episodes = ofType(records, 'episode');
    expect(episodes.every((e) => e.length <= 60)).toBe(true);
    expect(outcome.agentStep).toBe(250);
  });

  it('gives up after repeated crashes with a checkpoint and a non-zero exit code', async () => {
    const { testServerCommand } = await import('../../envs/remote/index.js');
    const config = tinyConfig({
      backend: 'wasm',
      env: 'remote',
      remoteCmd: testServerCommand(['--size', '16', '--crash-after', '20', '--episode-length', '15']),
      actionRepeat: 1,
      steps: 1000,
      evalEvery: 100_000,
    });
    const outcome = await train({ config, runDir: join(tempDir(), 'remote-fail'), ...quiet });
    expect(outcome.state).toBe('failed');
    expect(outcome.exitCode).not.toBe(0);
    expect(outcome.reason).toMatch(/gave up after 3 restarts/);
    expect(latestCheckpoint(outcome.runDir)).not.toBeNull();
  });
});

describe('curl-rl eval', () => {
  it("evaluates a run's last checkpoint reproducibly and writes a GIF of the first episode", async () => {
    const { evaluateRun } = await import('../../src/loop/evaluate-run.js');
    const { readFileSync } = await import('node:fs');
    const config = tinyConfig({ backend: 'wasm', steps: 400 });
    const run = await train({ config, runDir: join(tempDir(), 'eval'), ...quiet });
    const video = join(tempDir(), 'eval.gif');
    const first = await evaluateRun(run.runDir, { episodes: 2, seed: 5, video });
    expect(first.returns).toHaveLength(2);
    expect(first.mean).toBeCloseTo((first.returns[0]! + first.returns[1]!) / 2, 10);
    expect(first.checkpoint).toMatch(/ckpt-000000100$/);
    const gif = readFileSync(video);
    expect(gif.subarray(0, 6).toString('latin1')).toBe('GIF89a');
    // the first episode's every frame: the reset frame and one per agent step (1000 / action repeat 4)
    expect(gifFrameCount(gif)).toBe(1 + 1000 / config.actionRepeat);
    const again = await evaluateRun(run.runDir, { episodes: 2, seed: 5 });
    expect(again.returns).toEqual(first.returns);
  });
});

describe('a run that cannot start', () => {
  it('refuses an unknown env or a frame size that does not match, leaving no run directory', async () => {
    const { existsSync: exists, readdirSync } = await import('node:fs');
    const { testServerCommand } = await import('../../envs/remote/index.js');
    const { ConfigError } = await import('../../src/core/errors.js');
    const base = tempDir();
    await expect(train({ config: tinyConfig({ env: 'no-such-task', runsDir: base }), ...quiet })).rejects.toThrow(/not a registered environment/);
    const mismatch = tinyConfig({ backend: 'wasm', env: 'remote', imageSize: 20, remoteCmd: testServerCommand(['--size', '16']), runsDir: base });
    const attempt = train({ config: mismatch, runDir: join(base, 'mismatch'), ...quiet });
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(attempt).rejects.toThrow(/renders 16x16 frames but --image-size is 20/);
    expect(exists(join(base, 'mismatch'))).toBe(false);
    expect(readdirSync(base)).toEqual([]);
  });
});

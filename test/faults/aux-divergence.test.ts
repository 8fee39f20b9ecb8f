/*
 * `--aux curl-hard` with a large concentration: bilinear logits are unbounded,
 * so beta x the positive's margin reaches hundreds within the first updates.
 * The run trains on (the weights are computed stably, see
 * test/agents/aux-losses.test.ts for the numbers), and when an aux loss does
 * diverge the message says so instead of pointing at --lr and the rewards.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nonFiniteMetricError } from '../../src/loop/diverged.js';
import { train } from '../../src/loop/train.js';
import { readMetrics, type TrainRecord } from '../../src/run/metrics.js';
import { tinyConfig } from '../loop/helpers.js';
import { scratchRoot } from './helpers.js';

const scratch = scratchRoot('curl-faults-aux-');

describe('--aux curl-hard with a large --aux-beta', () => {
  it('trains without a NaN: loss, accuracy and gradient norm stay finite', async () => {
    // 120 updates; with latent 8 the logits' margins are a few units, times beta 100
    const config = tinyConfig({ backend: 'wasm', aux: 'curl-hard', auxBeta: 100, auxTauPlus: 0.1, steps: 180 * 4, evalEvery: 10_000, checkpointEvery: 10_000 });
    const outcome = await train({ config, runDir: join(scratch(), 'run'), progress: 'none', log: () => {} });
    expect(outcome.reason).toBeUndefined();
    expect(outcome.state).toBe('finished');
    const train_ = readMetrics(join(outcome.runDir, 'metrics.jsonl')).filter((r): r is TrainRecord => r.type === 'train' && r.updates > 0);
    expect(train_.length).toBeGreaterThan(0);
    for (const r of train_) for (const name of ['curlLoss', 'curlAccuracy', 'curlGradNorm']) expect(Number.isFinite(r[name])).toBe(true);
  });
});

describe('the message when an update is not finite', () => {
  const at = { update: 7, agentStep: 68 };
  it('names the aux loss and its options when an aux metric diverged', () => {
    const error = nonFiniteMetricError({ criticLoss: 0.3, actorLoss: -1, curlLoss: Number.NaN, curlGradNorm: Number.NaN }, { aux: 'curl-hard', auxBeta: 60 }, at);
    expect(error?.message).toMatch(/^curlLoss became NaN at update 7 \(agent step 68\)/);
    expect(error?.message).toMatch(/auxiliary loss that diverged: --aux curl-hard with --aux-queue 0, --aux-tau-plus 0, --aux-beta 60 \(the SAC losses of this update were still finite\)/);
    expect(error?.message).toMatch(/toward their defaults \(--aux-queue 0, --aux-tau-plus 0, --aux-beta 1\)/);
    expect(error?.message).not.toMatch(/rewards/);
  });

  it('still names the aux loss when the SAC losses followed it', () => {
    const error = nonFiniteMetricError({ criticLoss: Number.POSITIVE_INFINITY, auxLoss: Number.NaN, auxGradNorm: 1 }, { aux: 'simclr' }, at);
    expect(error?.message).toMatch(/^auxLoss became NaN .*auxiliary loss that diverged: --aux simclr with .*--aux-temperature 0\.1/);
    expect(error?.message).not.toMatch(/still finite/);
  });

  it('points at --lr and the rewards when only SAC diverged, and is null when all is finite', () => {
    expect(nonFiniteMetricError({ criticLoss: Number.NaN, curlLoss: 2 }, { aux: 'curl' }, at)?.message).toMatch(
      /^criticLoss became NaN at update 7 .*Lower --lr or check the environment's rewards\.$/,
    );
    expect(nonFiniteMetricError({ criticLoss: 1, curlLoss: 2 }, { aux: 'curl' }, at)).toBeNull();
  });
});

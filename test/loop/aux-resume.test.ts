import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { train } from '../../src/loop/train.js';
import type { Config } from '../../src/config/schema.js';
import { readMetrics } from '../../src/run/metrics.js';
import { comparable, tempDir, tinyConfig } from './helpers.js';

/**
 * The aux objectives in a whole run: their metrics reach metrics.jsonl, and a
 * run stopped half way and resumed from its checkpoint (weights, Adam slots,
 * BYOL's target projector, CURL's key queue) gives the numbers of one that
 * never stopped.
 */
const cases: Array<[string, Partial<Config>, string[]]> = [
  ['curl-hard with a key queue', { aux: 'curl-hard', auxQueue: 24, auxTauPlus: 0.1 }, ['curlLoss', 'curlAccuracy', 'curlGradNorm']],
  ['byol', { aux: 'byol', auxHiddenDim: 8, auxProjDim: 4 }, ['auxLoss', 'auxAlignment', 'auxUniformity', 'auxGradNorm']],
];

describe('aux objectives through the loop', () => {
  for (const [name, over, keys] of cases) {
    it(`${name}: metrics in metrics.jsonl; interrupted and resumed = never stopped`, async () => {
      const config = tinyConfig({ backend: 'wasm', convEngine: 'tfjs', steps: 160 * 4, checkpointEvery: 60 * 4, ...over });
      const whole = await train({ config, runDir: join(tempDir(), 'whole'), progress: 'none', log: () => {} });
      expect(whole.state).toBe('finished');
      const dir = join(tempDir(), 'parts');
      const first = await train({
        config,
        runDir: dir,
        progress: 'none',
        log: () => {},
        onStart: (trainer, shutdown) =>
          trainer.events.subscribe((e) => {
            if (e.type === 'transition' && e.agentStep === 111) shutdown.request({ kind: 'signal', signal: 'SIGINT' });
          }),
      });
      expect(first.state).toBe('interrupted');
      const second = await train({ resume: dir, progress: 'none', log: () => {} });
      expect(second.state).toBe('finished');
      const expected = comparable(readMetrics(join(whole.runDir, 'metrics.jsonl')));
      const trainRecords = expected.filter((r) => r.type === 'train' && typeof r.criticLoss === 'number');
      expect(trainRecords.length).toBeGreaterThan(3);
      for (const k of keys) for (const r of trainRecords) expect(Number.isFinite(r[k]), k).toBe(true);
      expect(comparable(readMetrics(join(dir, 'metrics.jsonl')))).toEqual(expected);
    }, 120_000);
  }
});

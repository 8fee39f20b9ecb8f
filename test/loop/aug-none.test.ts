import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { train } from '../../src/loop/train.js';
import { readMetrics } from '../../src/run/metrics.js';
import { comparable, tempDir, tinyConfig } from './helpers.js';

describe('--aug none --aux none (pixel SAC without augmentation)', () => {
  it('trains on toy-reach, and two runs with one seed give the same numbers', async () => {
    const config = tinyConfig({ aug: 'none', aux: 'none', steps: 120 * 4 });
    const runs = [];
    for (const name of ['a', 'b']) {
      const result = await train({ config, runDir: join(tempDir(), name), progress: 'none', log: () => {} });
      expect(result.state).toBe('finished');
      runs.push(comparable(readMetrics(join(result.runDir, 'metrics.jsonl'))));
    }
    const trainRecords = runs[0]!.filter((r) => r.type === 'train');
    expect(trainRecords.length).toBeGreaterThan(1);
    expect(trainRecords.some((r) => Number.isFinite(r.criticLoss))).toBe(true);
    expect(runs[1]).toEqual(runs[0]);
  }, 300_000);
});

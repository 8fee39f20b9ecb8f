import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { train } from '../../src/loop/train.js';
import { readMetrics } from '../../src/run/metrics.js';
import { comparable, tempDir, tinyConfig } from './helpers.js';

describe('--aug shift+jitter+cutout with --aug-k 2 --aug-m 2', () => {
  it('a run stopped half way and resumed gives the same numbers as one that never stopped (the sampling Rng carries the augmentation draws)', async () => {
    // shift keeps the input at the rendered size: 12 x 12 frames, no crop
    const config = tinyConfig({ backend: 'wasm', imageSize: 12, cropSize: 12, aug: 'shift+jitter+cutout', augK: 2, augM: 2, steps: 160 * 4 });
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
          if (e.type === 'transition' && e.agentStep === 101) shutdown.request({ kind: 'signal', signal: 'SIGINT' });
        }),
    });
    expect(first.state).toBe('interrupted');
    const second = await train({ resume: dir, progress: 'none', log: () => {} });
    expect(second.state).toBe('finished');
    const expected = comparable(readMetrics(join(whole.runDir, 'metrics.jsonl')));
    expect(expected.filter((r) => r.type === 'train').length).toBeGreaterThan(3);
    expect(comparable(readMetrics(join(dir, 'metrics.jsonl')))).toEqual(expected);
  }, 300_000);
});

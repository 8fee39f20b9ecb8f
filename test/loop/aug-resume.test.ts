import { describe, expect, it } from 'vitest';
import { runWholeAndResumed, tinyConfig } from './helpers.js';

describe('--aug shift+jitter+cutout with --aug-k 2 --aug-m 2', () => {
  it('a run stopped half way and resumed gives the same numbers as one that never stopped (the sampling Rng carries the augmentation draws)', async () => {
    // shift keeps the input at the rendered size: 12 x 12 frames, no crop
    const config = tinyConfig({ backend: 'wasm', imageSize: 12, cropSize: 12, aug: 'shift+jitter+cutout', augK: 2, augM: 2, steps: 160 * 4 });
    const run = await runWholeAndResumed(config, 101);
    expect(run.whole.state).toBe('finished');
    expect(run.first.state).toBe('interrupted');
    expect(run.second?.state).toBe('finished');
    expect(run.expected.filter((r) => r.type === 'train').length).toBeGreaterThan(3);
    expect(run.actual).toEqual(run.expected);
  }, 300_000);
});

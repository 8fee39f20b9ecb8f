import { describe, expect, it } from 'vitest';
import { loadConvAddon } from '../../agents/native/addon.js';
import { comparePrecisions } from '../../experiments/bench/lib/precision-compare.js';
import { initBackend } from '../../src/backend.js';
import { resolveConfig } from '../../src/config/resolve.js';

const addon = loadConvAddon();

describe.runIf(addon.available)('bf16 against fp32 on rendered cartpole-swingup batches', () => {
  it('gives every loss a gradient pointing the way fp32 does, and losses within a few percent (or is refused where bf16 cannot run)', async () => {
    await initBackend('wasm');
    // the paper preset's task and pixels, sized down: 60 px frames cropped to 52, 2 convs, small heads
    const { config } = resolveConfig({
      preset: 'cartpole-swingup-paper',
      flags: { imageSize: 60, cropSize: 52, numConvLayers: 2, batchSize: 16, hiddenDim: 64, initSteps: 40, replayCapacity: 1000, convWorkers: 0 },
    });
    if (addon.available && addon.info.bf16 === 'unsupported') {
      await expect(comparePrecisions(config, 1)).rejects.toThrow(/cannot run bf16 on this CPU/);
      return;
    }
    const r = await comparePrecisions(config, 6);
    expect(r.updates).toBe(6);
    // critic every update (8 conv + 4 head + 12 Q tensors), actor on even updates, CURL every update
    expect(r.gradientCosine.critic.tensors).toBeGreaterThanOrEqual(6 * 20);
    expect(r.gradientCosine.actor.tensors).toBeGreaterThanOrEqual(3 * 8);
    expect(r.gradientCosine.aux.tensors).toBeGreaterThanOrEqual(6 * 6);
    for (const loss of ['critic', 'actor', 'aux'] as const) {
      expect(r.gradientCosine[loss].min, `${loss}: worst ${r.gradientCosine[loss].worst}`).toBeGreaterThan(0.98);
      expect(r.gradientCosine[loss].median).toBeGreaterThan(0.999);
    }
    for (const metric of ['criticLoss', 'qMean', 'targetQ', 'curlLoss', 'actorLoss']) {
      expect(r.metricRelError[metric]!.max, metric).toBeLessThan(0.05);
    }
    // what bf16 does not touch is exactly fp32's
    expect(r.metricRelError['batchReward']!.max).toBe(0);
    expect(r.metricRelError['alpha']!.max).toBe(0);
  });
});

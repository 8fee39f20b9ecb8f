import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { KERNEL, convOutputSide, convStride, encoderOutputSide, maxConvLayersFor, minCropFor } from '../../agents/conv-size.js';
import { createParams } from '../../agents/params.js';
import { auxObjective } from '../../agents/aux/registry.js';
import { agentParamCount, auxStateBytes, checkRunFitsMachine, estimateMemory } from '../../src/config/limits.js';
import { auxNames, defaultConfig } from '../../src/config/schema.js';
import { createAgent } from '../../src/agent.js';
import { ConfigError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';

describe('machine limits', () => {
  it("the encoder arithmetic is tfjs's valid convolutions, and the limits are its inverses", async () => {
    await tf.setBackend('cpu');
    for (let layers = 1; layers <= 8; layers++) {
      for (let crop = 3; crop <= 40; crop++) {
        const side = encoderOutputSide(crop, layers);
        if (side < 1) {
          expect(() => convOutputSide(crop, layers)).toThrow(RangeError);
          continue;
        }
        expect(convOutputSide(crop, layers)).toBe(side);
        const out = tf.tidy(() => {
          let x = tf.zeros([1, crop, crop, 1]) as tf.Tensor4D;
          for (let l = 0; l < layers; l++) x = tf.conv2d(x, tf.zeros([KERNEL, KERNEL, 1, 1]) as tf.Tensor4D, convStride(l), 'valid');
          return x.shape;
        });
        expect(out).toEqual([1, side, side, 1]);
      }
      expect(encoderOutputSide(minCropFor(layers), layers)).toBe(1);
      expect(encoderOutputSide(minCropFor(layers) - 1, layers)).toBeLessThan(1);
      const crop = 20 + layers * 3;
      expect(encoderOutputSide(crop, maxConvLayersFor(crop))).toBeGreaterThanOrEqual(1);
      expect(encoderOutputSide(crop, maxConvLayersFor(crop) + 1)).toBeLessThan(1);
    }
  });

  it("counts the agent's own parameters as createParams creates them (aux 'none' adds none)", async () => {
    await tf.setBackend('cpu');
    const config = { ...defaultConfig(), aux: 'none' as const, cropSize: 20, frameStack: 2, numConvLayers: 3, numFilters: 5, latentDim: 7, hiddenDim: 11 };
    const params = createParams({ obsShape: [20, 20, 6], actionDim: 3, numConvLayers: 3, numFilters: 5, latentDim: 7, hiddenDim: 11 }, 0.1, new Rng(1));
    const count = [...params.values()].reduce((sum, v) => sum + v.size, 0);
    tf.dispose([...params.values()]);
    expect(agentParamCount(config, 3)).toBe(count);
  });

  it('counts the parameters of every aux objective as the agent builds them', async () => {
    await tf.setBackend('cpu');
    for (const aux of auxNames) {
      const config = { ...defaultConfig(), aux, cropSize: 20, frameStack: 2, numConvLayers: 3, numFilters: 5, latentDim: 7, hiddenDim: 11, auxHiddenDim: 9, auxProjDim: 4 };
      const agent = createAgent({ ...config, convEngine: 'tfjs', convWorkers: 0 }, { obsShape: [20, 20, 6], actionDim: 3 }, 1);
      const state = await agent.getState();
      agent.dispose();
      const count = Object.values(state.params).reduce((sum, r) => sum + r.data.length, 0);
      expect(agentParamCount(config, 3), aux).toBe(count);
    }
  });

  it("counts every aux objective's state besides parameters (key queues, memory banks) as the agent keeps it", async () => {
    await tf.setBackend('cpu');
    const replayCapacity = 300;
    let counted = 0;
    for (const aux of auxNames) {
      const readsQueue = 'auxQueue' in auxObjective(aux).options;
      const config = { ...defaultConfig(), aux, cropSize: 20, frameStack: 2, numConvLayers: 3, numFilters: 5, latentDim: 7, hiddenDim: 11, replayCapacity, ...(readsQueue ? { auxQueue: 200 } : {}) };
      const agent = createAgent({ ...config, convEngine: 'tfjs', convWorkers: 0 }, { obsShape: [20, 20, 6], actionDim: 3 }, 1);
      const state = await agent.getState();
      agent.dispose();
      const bytes = 4 * Object.values(state.auxState ?? {}).reduce((sum, r) => sum + r.data.length, 0);
      const declared = auxStateBytes(config);
      const expected = declared.perReplaySlot * replayCapacity + declared.fixed;
      // the declared figure leaves out bookkeeping: an objective's random stream (258 floats), a queue's size and pointer
      expect(Math.abs(bytes - expected), `${aux}: state ${bytes} B, declared ${expected} B`).toBeLessThanOrEqual(4 * (258 + 2));
      if (expected > 0) counted++;
    }
    // curl's family, nce and mochi (queue) and memory-bank (bank)
    expect(counted).toBeGreaterThanOrEqual(6);
  });

  it("the memory check counts the memory bank with the replay buffer", () => {
    const config = { ...defaultConfig(), replayCapacity: 100_000, latentDim: 50 };
    const plain = estimateMemory({ ...config, aux: 'curl' }, 1);
    const bank = estimateMemory({ ...config, aux: 'memory-bank' }, 1);
    expect(bank.bytesPerTransition - plain.bytesPerTransition).toBe(4 * 50 + 12);
    expect(bank.replayBytes - plain.replayBytes).toBe(100_000 * (4 * 50 + 12));
    // a budget the replay fits in but not the replay with its bank
    const available = { bytes: plain.replayBytes + plain.networkBytes + 10_000_000, source: 'test' };
    expect(() => checkRunFitsMachine({ ...config, aux: 'curl' }, { backend: 'wasm', actionDim: 1, available })).not.toThrow();
    expect(() => checkRunFitsMachine({ ...config, aux: 'memory-bank' }, { backend: 'wasm', actionDim: 1, available })).toThrow(/replay buffer with the --aux memory-bank state of each slot .*lower --replay-capacity to at most 99/);
  });

  it('refuses what does not fit, saying what would', () => {
    const config = defaultConfig();
    const available = { bytes: 8 * 2 ** 30, source: 'test' };
    expect(() => checkRunFitsMachine(config, { backend: 'wasm', actionDim: 6, available })).not.toThrow();
    expect(() => checkRunFitsMachine({ ...config, replayCapacity: 1_000_000 }, { backend: 'wasm', actionDim: 6, available })).toThrow(
      /needs about 28 GiB of memory .*8.0 GiB available now \(test\); lower --replay-capacity to at most 279855 \(29 KiB per transition at 100x100\)/,
    );
    expect(() => checkRunFitsMachine({ ...config, hiddenDim: 16_384 }, { backend: 'wasm', actionDim: 6, available: { bytes: 2 ** 50, source: 'test' } })).toThrow(
      /more than half the 4.0 GiB heap of the wasm backend/,
    );
    expect(() => checkRunFitsMachine({ ...config, hiddenDim: 16_384 }, { backend: 'tensorflow', actionDim: 6, available: { bytes: 2 ** 50, source: 'test' } })).not.toThrow();
    try {
      checkRunFitsMachine({ ...config, replayCapacity: 10 ** 10 }, { backend: 'wasm', actionDim: 6, available });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
    }
  });
});

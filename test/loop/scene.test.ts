import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { convForward } from '../../agents/networks.js';
import { convParams, createParams } from '../../agents/params.js';
import { makeEnv } from '../../envs/registry.js';
import { ReplayBuffer } from '../../replay/buffer.js';
import { Rng } from '../../src/core/rng.js';
import { tinyConfig } from './helpers.js';

describe("the loop tests' toy scene", () => {
  it("gives CURL's freshly initialised encoder distinct features across crops", async () => {
    // On a flat floor with a sub-pixel dot, 512 crops gave 14-52 distinct
    // features and CURL's accuracy sat at 1/B: the loop tests could not tell
    // a working contrastive loss from a broken one.
    await tf.setBackend('wasm');
    const config = tinyConfig();
    const env = await makeEnv(config.env, { imageSize: config.imageSize, actionRepeat: config.actionRepeat, seed: 1 });
    const buffer = new ReplayBuffer({ capacity: 400, frameShape: [config.imageSize, config.imageSize, 3], actionDim: 2, frameStack: config.frameStack });
    const rng = new Rng(2);
    buffer.addReset((await env.reset({ seed: 1 })).observation as Uint8Array);
    for (let i = 0; i < 200; i++) {
      const action = Float32Array.of(rng.uniform() * 2 - 1, rng.uniform() * 2 - 1);
      const step = await env.step(action);
      buffer.addStep({ action, reward: step.reward, terminated: step.terminated, truncated: step.truncated, nextFrame: step.observation as Uint8Array });
    }
    await env.close();
    const n = 512;
    const batch = buffer.sample(n, rng, { cropSize: config.cropSize, positive: false });
    const channels = 3 * config.frameStack;
    const params = createParams(
      { obsShape: [config.cropSize, config.cropSize, channels], actionDim: 2, numConvLayers: config.numConvLayers, numFilters: config.numFilters, latentDim: config.latentDim, hiddenDim: config.hiddenDim },
      config.initTemperature, new Rng(config.seed),
    );
    const features = tf.tidy(() => {
      const x = tf.tensor4d(batch.obs, [n, config.cropSize, config.cropSize, channels], 'float32');
      return convForward(x, convParams(params, config.numConvLayers), false).h.arraySync();
    });
    for (const p of params.values()) p.dispose();
    const distinct = new Set(features.map((row) => row.map((v) => v.toFixed(4)).join()));
    // At initialisation each feature reads one pixel (delta-orthogonal taps),
    // so crops of the same scene at the same offset still coincide: the floor
    // texture gives 150+ distinct features here where the flat floor gave 22.
    expect(distinct.size).toBeGreaterThan(0.2 * n);
  });
});

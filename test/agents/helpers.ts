import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { Batch } from '../../replay/types.js';
import type { AgentConfig } from '../../agents/index.js';
import { Rng } from '../../src/rng.js';

export async function useBackend(name: 'wasm' | 'cpu'): Promise<void> {
  if (tf.getBackend() !== name) {
    await tf.setBackend(name);
    await tf.ready();
  }
}

export function tinyConfig(overrides: Partial<AgentConfig> = {}): AgentConfig {
  return {
    aux: 'curl', hiddenDim: 16, latentDim: 6, numConvLayers: 2, numFilters: 4, lr: 1e-3, beta1: 0.9,
    alphaLr: 1e-4, alphaBeta1: 0.5, initTemperature: 0.1, discount: 0.99, criticTau: 0.01, encoderTau: 0.05,
    actorUpdateFreq: 2, criticTargetUpdateFreq: 2, microBatch: 128, actorLogStdMin: -10, actorLogStdMax: 2,
    // the tfjs engine unless a test asks for libtorch: these tests pin the wasm/cpu math
    convEngine: 'tfjs',
    ...overrides,
  };
}

/** A random batch of B crops of side `size` with `channels` channels. */
export function randomBatch(seed: number, b: number, size: number, channels: number, actionDim: number, positive = true): Batch {
  const rng = new Rng(seed);
  const img = () => {
    const u = new Uint8Array(b * size * size * channels);
    for (let i = 0; i < u.length; i++) u[i] = rng.int(256);
    return u;
  };
  const action = new Float32Array(b * actionDim).map(() => rng.uniform() * 2 - 1);
  const reward = new Float32Array(b).map(() => rng.uniform());
  const notDone = new Float32Array(b).map(() => (rng.uniform() < 0.9 ? 1 : 0));
  return {
    batchSize: b, size, channels, actionDim, obs: img(), nextObs: img(),
    ...(positive ? { obsPositive: img() } : {}), action, reward, notDone,
  };
}

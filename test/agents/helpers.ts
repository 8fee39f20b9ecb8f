import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { Batch } from '../../replay/types.js';
import type { CurlSacAgent } from '../../agents/index.js';
import type { AgentBuildConfig } from '../../src/agent.js';
import { Rng } from '../../src/core/rng.js';

export async function useBackend(name: 'wasm' | 'cpu'): Promise<void> {
  if (tf.getBackend() !== name) {
    await tf.setBackend(name);
    await tf.ready();
  }
}

export function tinyConfig(overrides: Partial<AgentBuildConfig> = {}): AgentBuildConfig {
  return {
    aux: 'curl', hiddenDim: 16, latentDim: 6, numConvLayers: 2, numFilters: 4, lr: 1e-3, beta1: 0.9,
    alphaLr: 1e-4, alphaBeta1: 0.5, initTemperature: 0.1, discount: 0.99, criticTau: 0.01, encoderTau: 0.05,
    actorUpdateFreq: 2, criticTargetUpdateFreq: 2, microBatch: 128, actorLogStdMin: -10, actorLogStdMax: 2,
    // memory-bank's bank has a slot per replay slot; the batches below number their rows 0..B-1
    replayCapacity: 64,
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
    ...(positive ? { obsPositive: img() } : {}), action, reward, notDone, indices: rowIndices(b),
  };
}

/**
 * A batch of B textured scenes (each a different random field of coarse
 * blocks, so every crop of it looks different), seen through three
 * independent random crops of `size` from a `size + pad` square: obs,
 * positive and next obs, as the replay buffer samples them for CURL. Flat
 * images would make CURL degenerate (crops of them are indistinguishable).
 */
export function texturedBatch(seed: number, b: number, size: number, pad: number, actionDim: number): Batch {
  const rng = new Rng(seed);
  const full = size + pad;
  const scenes = Array.from({ length: b }, () => textureImage(rng, full));
  const crops = () => {
    const out = new Uint8Array(b * size * size * 3);
    scenes.forEach((img, i) => cropInto(img, full, rng.int(pad + 1), rng.int(pad + 1), size, out, i * size * size * 3));
    return out;
  };
  return {
    batchSize: b, size, channels: 3, actionDim, obs: crops(), obsPositive: crops(), nextObs: crops(),
    action: new Float32Array(b * actionDim).map(() => rng.uniform() * 2 - 1),
    reward: new Float32Array(b), notDone: new Float32Array(b), indices: rowIndices(b),
  };
}

/** Replay indices 0..B-1: the same B transitions in every batch of that size (so a memory bank meets them again). */
export function rowIndices(b: number): Float64Array {
  return Float64Array.from({ length: b }, (_, i) => i);
}

/** A side x side RGB image of block x block squares of random colour. */
export function textureImage(rng: Rng, side: number, block = 2): Uint8Array {
  const img = new Uint8Array(side * side * 3);
  const cells = Math.ceil(side / block);
  const colours = Array.from({ length: cells * cells * 3 }, () => rng.int(256));
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const cell = Math.floor(y / block) * cells + Math.floor(x / block);
      for (let k = 0; k < 3; k++) img[(y * side + x) * 3 + k] = colours[cell * 3 + k]!;
    }
  }
  return img;
}

export function cropInto(img: Uint8Array, side: number, top: number, left: number, size: number, out: Uint8Array, offset: number): void {
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * side + left) * 3;
    out.set(img.subarray(from, from + size * 3), offset + y * size * 3);
  }
}

/** ||a - b|| / ||b||: the relative error of a gradient against its reference. */
export function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** Copies of a gradient map's values (the agent disposes the tensors after its seam returns). */
export function copyGrads(grads: ReadonlyMap<string, tf.Tensor>): Map<string, Float32Array> {
  return new Map([...grads].map(([n, t]) => [n, (t.dataSync() as Float32Array).slice()]));
}

/** One update (at `step`): the agent's state before and after it and the aux gradients it handed to its Adam. */
export async function updateCapturing(agent: CurlSacAgent, batch: Batch, step: number) {
  const before = await agent.getState();
  let seen: Map<string, Float32Array> | null = null;
  agent.onAuxGradients = (g) => (seen = copyGrads(g));
  const metrics = await agent.update(batch, step);
  agent.onAuxGradients = null;
  return { before, after: await agent.getState(), metrics, grads: seen as unknown as Map<string, Float32Array> };
}

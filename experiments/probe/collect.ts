/*
 * Episodes for the probe: each step's centre-cropped frame stack through one
 * or more encoders (features) next to the env's true state after that step.
 * Frames are kept for one episode at a time, so memory does not grow with
 * the number of episodes.
 */
import { stateReaderOf } from '../../envs/state.js';
import type { Env } from '../../envs/types.js';
import { FrameStacker } from '../../envs/wrappers/frame-stack.js';
import { centerCrop } from '../../replay/image-kernels.js';
import { Rng } from '../../src/core/rng.js';
import { ConfigError } from '../../src/core/errors.js';

/** [count] centre-cropped HWC uint8 stacks -> [count, dim] features, row after row. */
export type FeatureFn = (obs: Uint8Array, count: number) => Float32Array;

export interface FrameGeometry {
  imageSize: number;
  cropSize: number;
  frameStack: number;
}

/** A deterministic policy on a centre-cropped stack, or 'random' (uniform in [-1, 1] per action, seeded per episode). */
export type ProbeActor = ((obs: Uint8Array) => Float32Array) | 'random';

export interface ProbeEpisodes {
  stateNames: string[];
  /** Per encoder, [samples, dim] row after row. */
  features: Float32Array[];
  featureDims: number[];
  /** [samples, state dims]. */
  states: Float64Array;
  /** The episode each sample belongs to (its index in `seeds`, offset by `episodeOffset`). */
  episodeOf: number[];
  samples: number;
}

const CHUNK = 64;

export async function collectEpisodes(
  env: Env,
  geometry: FrameGeometry,
  options: { seeds: readonly number[]; actor: ProbeActor; encoders: readonly FeatureFn[]; episodeOffset?: number },
): Promise<ProbeEpisodes> {
  const reader = stateReaderOf(env);
  if (reader === null) throw new ConfigError(`env ${env.id} does not expose its physical state, so its encoder cannot be probed (the built-in MuJoCo tasks and toy-reach do; a remote env does not).`);
  const space = env.actionSpace;
  if (space.kind !== 'box') throw new ConfigError(`the probe needs a continuous (Box) action space; ${env.id} has a discrete one`);
  const actionDim = space.shape.reduce((a, b) => a * b, 1);
  const channels = 3 * geometry.frameStack;
  const cropBytes = geometry.cropSize * geometry.cropSize * channels;
  const stacker = new FrameStacker([geometry.imageSize, geometry.imageSize, 3], geometry.frameStack);
  const features: number[][] = options.encoders.map(() => []);
  const featureDims: number[] = options.encoders.map(() => 0);
  const states: number[] = [];
  const episodeOf: number[] = [];
  let stateNames: string[] | undefined;

  for (const [i, seed] of options.seeds.entries()) {
    const crops: Uint8Array[] = [];
    const record = (stacked: Uint8Array): Uint8Array => {
      const crop = centerCrop(stacked, geometry.imageSize, channels, geometry.cropSize, new Uint8Array(cropBytes));
      crops.push(crop);
      const state = reader.physicalState();
      stateNames ??= [...state.names];
      states.push(...state.values);
      episodeOf.push((options.episodeOffset ?? 0) + i);
      return crop;
    };
    const rng = new Rng(seed);
    const { observation } = await env.reset({ seed });
    let crop = record(stacker.reset(observation as Uint8Array));
    for (;;) {
      const action = options.actor === 'random' ? Float32Array.from({ length: actionDim }, () => rng.uniform() * 2 - 1) : options.actor(crop);
      const step = await env.step(action);
      if (step.terminated || step.truncated) break;
      crop = record(stacker.push(step.observation as Uint8Array));
    }
    options.encoders.forEach((encode, e) => {
      for (let start = 0; start < crops.length; start += CHUNK) {
        const batch = crops.slice(start, start + CHUNK);
        const joined = new Uint8Array(batch.length * cropBytes);
        batch.forEach((c, k) => joined.set(c, k * cropBytes));
        const out = encode(joined, batch.length);
        featureDims[e] = out.length / batch.length;
        for (const v of out) features[e]!.push(v);
      }
    });
  }
  return {
    stateNames: stateNames ?? [],
    features: features.map((f) => Float32Array.from(f)),
    featureDims,
    states: Float64Array.from(states),
    episodeOf,
    samples: episodeOf.length,
  };
}

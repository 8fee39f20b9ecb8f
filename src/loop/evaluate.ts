import type { Env } from '../../envs/types.js';
import { FrameStacker } from '../../envs/wrappers/frame-stack.js';
import { centerCrop } from '../../replay/image-kernels.js';
import type { Config } from '../config/schema.js';

export interface Policy {
  act(obs: Uint8Array, options: { deterministic: boolean }): Float32Array;
}

export interface EvaluationResult {
  returns: number[];
  mean: number;
  std: number;
}

export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const n = Math.max(1, values.length);
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
  return { mean, std: Math.sqrt(variance) };
}

/**
 * Runs whole episodes with the deterministic policy on centre-cropped stacks.
 * Episode i is seeded with seeds[i], so evaluations are reproducible and
 * never draw from the training RNGs. onFrame sees every frame the agent sees
 * (for videos).
 */
export async function evaluatePolicy(
  env: Env,
  policy: Policy,
  config: Pick<Config, 'imageSize' | 'cropSize' | 'frameStack'>,
  seeds: readonly number[],
  onFrame?: (frame: Uint8Array, episode: number) => void,
): Promise<EvaluationResult> {
  const stacker = new FrameStacker([config.imageSize, config.imageSize, 3], config.frameStack);
  const channels = 3 * config.frameStack;
  const crop = new Uint8Array(config.cropSize * config.cropSize * channels);
  const returns: number[] = [];
  for (const [episode, seed] of seeds.entries()) {
    const { observation } = await env.reset({ seed });
    onFrame?.(observation as Uint8Array, episode);
    let stacked = stacker.reset(observation as Uint8Array);
    let total = 0;
    for (;;) {
      const action = policy.act(centerCrop(stacked, config.imageSize, channels, config.cropSize, crop), { deterministic: true });
      const step = await env.step(action);
      total += step.reward;
      onFrame?.(step.observation as Uint8Array, episode);
      stacked = stacker.push(step.observation as Uint8Array);
      if (step.terminated || step.truncated) break;
    }
    returns.push(total);
  }
  return { returns, ...meanStd(returns) };
}

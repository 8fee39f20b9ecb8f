import { extname } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { writeGif, writePng } from '../../../envs/image.js';
import { DEFAULT_IMAGE_SIZE, listEnvs, makeEnv } from '../../../envs/registry.js';
import type { Action, Env, Space } from '../../../envs/types.js';

export interface RenderEpisodeOptions {
  env: string;
  seed: number;
  steps: number;
  imageSize: number;
  actionRepeat: number;
  /** Keep every frame (for a GIF) or only the last. */
  keepAll: boolean;
}

function randomAction(space: Space, rng: Rng): Action {
  if (space.kind === 'discrete') return rng.int(space.n);
  const n = space.shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => 2 * rng.uniform() - 1);
}

/** Frames after each of `steps` uniform random actions (seeded), resetting when an episode ends. */
export async function renderRandomRollout(o: RenderEpisodeOptions): Promise<Uint8Array[]> {
  const env: Env = await makeEnv(o.env, { imageSize: o.imageSize, actionRepeat: o.actionRepeat, seed: o.seed });
  try {
    const rng = new Rng(o.seed);
    let frame = (await env.reset({ seed: o.seed })).observation as Uint8Array;
    const frames: Uint8Array[] = [];
    for (let t = 0; t < o.steps; t++) {
      const r = await env.step(randomAction(env.actionSpace, rng));
      frame = r.observation as Uint8Array;
      if (o.keepAll) frames.push(frame);
      if (r.terminated || r.truncated) await env.reset();
    }
    return o.keepAll ? frames : [frame];
  } finally {
    await env.close();
  }
}

function int(flag: string, value: string, min: number): number {
  const v = Number(value);
  if (!Number.isInteger(v) || v < min) throw new ConfigError(`${flag} = ${JSON.stringify(value)} is invalid; expected an integer >= ${min}`);
  return v;
}

export function register(program: Command): void {
  program
    .command('render')
    .description('write the frame after K random-action steps (.png) or an animation of the K frames (.gif)')
    .requiredOption('--env <id>', 'environment id (see `curl-rl envs`)')
    .option('--seed <n>', 'seed for the reset and the random actions', '0')
    .option('--steps <k>', 'random-action agent steps', '0')
    .requiredOption('--out <file>', 'output file, .png or .gif')
    .option('--image-size <n>', 'image side in pixels', String(DEFAULT_IMAGE_SIZE))
    .option('--action-repeat <n>', 'control steps per agent step', '1')
    .action(async (opts: { env: string; seed: string; steps: string; out: string; imageSize: string; actionRepeat: string }) => {
      const ext = extname(opts.out).toLowerCase();
      if (ext !== '.png' && ext !== '.gif') throw new ConfigError(`--out ${JSON.stringify(opts.out)} must end in .png or .gif`);
      if (!listEnvs().some((e) => e.id === opts.env)) {
        throw new ConfigError(`--env ${JSON.stringify(opts.env)} is not registered; choose one of ${listEnvs().map((e) => e.id).join(', ')}`);
      }
      const size = int('--image-size', opts.imageSize, 1);
      const gif = ext === '.gif';
      const steps = int('--steps', opts.steps, gif ? 1 : 0);
      const frames = await renderRandomRollout({
        env: opts.env,
        seed: int('--seed', opts.seed, 0),
        steps,
        imageSize: size,
        actionRepeat: int('--action-repeat', opts.actionRepeat, 1),
        keepAll: gif,
      });
      if (gif) await writeGif(opts.out, frames, size, size);
      else writePng(opts.out, frames[0] as Uint8Array, size, size);
      console.log(`wrote ${opts.out} (${gif ? `${frames.length} frames` : `frame after ${steps} steps`}, ${size}x${size})`);
    });
}

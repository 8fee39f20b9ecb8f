import { accessSync, constants, statfsSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { formatBytes } from '../../config/limits.js';
import { GIF_FIXED_BYTES, GifFileWriter, gifFrameBytesAtMost, writePng } from '../../../envs/image.js';
import { DEFAULT_IMAGE_SIZE, listEnvs, makeEnv } from '../../../envs/registry.js';
import type { Action, Env, Space } from '../../../envs/types.js';
import { parseCount, schemaRange } from '../config-flags.js';

export interface RenderEpisodeOptions {
  env: string;
  seed: number;
  steps: number;
  imageSize: number;
  actionRepeat: number;
  /** Sees each frame after a step as it comes (a GIF writes it); none is kept here. */
  onFrame?: (frame: Uint8Array) => void;
}

function randomAction(space: Space, rng: Rng): Action {
  if (space.kind === 'discrete') return rng.int(space.n);
  const n = space.shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => 2 * rng.uniform() - 1);
}

/** Runs `steps` uniform random actions (seeded), resetting when an episode ends; returns the last frame (the reset's for 0 steps). */
export async function renderRandomRollout(o: RenderEpisodeOptions): Promise<Uint8Array> {
  const env: Env = await makeEnv(o.env, { imageSize: o.imageSize, actionRepeat: o.actionRepeat, seed: o.seed });
  try {
    const rng = new Rng(o.seed);
    let frame = (await env.reset({ seed: o.seed })).observation as Uint8Array;
    for (let t = 0; t < o.steps; t++) {
      const r = await env.step(randomAction(env.actionSpace, rng));
      frame = r.observation as Uint8Array;
      o.onFrame?.(frame);
      if (r.terminated || r.truncated) await env.reset();
    }
    return frame;
  } finally {
    await env.close();
  }
}

/**
 * The most frames a GIF of this size can have in the space left where it is
 * written, at the encoder's worst case (frames that do not compress): a GIF
 * streams to disk, so the disk is what bounds its length, not memory.
 */
function gifFramesThatFit(out: string, size: number): { frames: number; why: string } {
  const fs = statfsSync(dirname(out));
  const free = Number(fs.bavail) * Number(fs.bsize);
  const perFrame = gifFrameBytesAtMost(size, size);
  return {
    frames: Math.max(0, Math.floor((free - GIF_FIXED_BYTES) / perFrame)),
    why: `a ${size}x${size} GIF frame takes up to ${formatBytes(perFrame)} and ${dirname(out)} has ${formatBytes(free)} free`,
  };
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
      // the sizes training allows: what the renderer and the schema agree on
      const size = parseCount('--image-size', opts.imageSize, schemaRange('imageSize'));
      const actionRepeat = parseCount('--action-repeat', opts.actionRepeat, schemaRange('actionRepeat'));
      const seed = parseCount('--seed', opts.seed, { min: 0, max: Number.MAX_SAFE_INTEGER });
      try {
        accessSync(dirname(opts.out), constants.W_OK);
      } catch (error) {
        throw new ConfigError(`--out ${JSON.stringify(opts.out)} cannot be written: ${(error as Error).message}`);
      }
      const gif = ext === '.gif';
      if (!gif) {
        // a PNG keeps only the last frame, so any number of steps fits
        const steps = parseCount('--steps', opts.steps, { min: 0, max: Number.MAX_SAFE_INTEGER });
        const frame = await renderRandomRollout({ env: opts.env, seed, steps, imageSize: size, actionRepeat });
        writePng(opts.out, frame, size, size);
        console.log(`wrote ${opts.out} (frame after ${steps} steps, ${size}x${size})`);
        return;
      }
      const fit = gifFramesThatFit(opts.out, size);
      const steps = parseCount('--steps', opts.steps, { min: 1, max: Math.max(1, fit.frames), why: fit.why });
      let writer: GifFileWriter;
      try {
        writer = await GifFileWriter.open(opts.out, size, size);
      } catch (error) {
        throw new ConfigError(`--out ${JSON.stringify(opts.out)} cannot be written: ${(error as Error).message}`);
      }
      try {
        await renderRandomRollout({ env: opts.env, seed, steps, imageSize: size, actionRepeat, onFrame: (frame) => writer.add(frame) });
        const frames = writer.close();
        console.log(`wrote ${opts.out} (${frames} frames, ${size}x${size})`);
      } finally {
        writer.abort();
      }
    });
}

/*
 * Environment throughput per task, one JSON line per measurement:
 *  - physics: MuJoCo steps/s (and control steps/s) with random actions, no rendering;
 *  - render: frames/s of the ray-casting renderer at each size, one frame per control step.
 *  - with --random-returns N: the mean (and std) return of a uniform random
 *    policy over N full episodes (1000 control steps, no action repeat), the
 *    baseline to compare with the Control Suite's random scores.
 * Flags: --tasks id,id  --sizes 84,100  --seconds 1 (per measurement)  --random-returns 0.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { MujocoEnv } from '../../envs/mujoco/env.js';
import type { MujocoTask } from '../../envs/mujoco/task.js';
import { MUJOCO_TASKS } from '../../envs/registry.js';
import { Rng } from '../../src/core/rng.js';
import { ConfigError } from '../../src/core/errors.js';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      tasks: { type: 'string' },
      sizes: { type: 'string', default: '84,100' },
      seconds: { type: 'string', default: '1' },
      'random-returns': { type: 'string', default: '0' },
    },
  });
  const seconds = Number(values.seconds);
  const sizes = values.sizes.split(',').map(Number);
  const wanted = values.tasks?.split(',');
  const tasks = wanted ? MUJOCO_TASKS.filter((t) => wanted.includes(t.id)) : MUJOCO_TASKS;
  if (wanted && tasks.length !== wanted.length) throw new ConfigError(`bench env: unknown task in --tasks ${values.tasks}; known: ${MUJOCO_TASKS.map((t) => t.id).join(', ')}`);
  const load = (): number => Number((os.loadavg()[0] ?? 0).toFixed(2));
  const episodes = Number(values['random-returns']);
  if (episodes > 0) {
    for (const task of tasks) console.log(JSON.stringify({ bench: 'env', task: task.id, metric: 'random_return', ...(await randomReturns(task, episodes)), loadavg1: load() }));
    return;
  }

  for (const task of tasks) {
    const rng = new Rng(0);
    const action = (): Float32Array => Float32Array.from({ length: task.actionDim }, () => 2 * rng.uniform() - 1);

    for (const size of sizes) {
      const env = await MujocoEnv.create(task, { imageSize: size, seed: 0 });
      env.reset({ seed: 0 });
      const out = new Uint8Array(size * size * 3);
      // Warm up the JIT (the ray caster's hot loops get optimised after a few hundred frames).
      const warm = performance.now();
      for (let i = 0; i < 300 && performance.now() - warm < 300; i++) {
        env.stepWithoutObservation(action());
        env.observe(out);
      }
      let frames = 0;
      let renderMs = 0;
      const start = performance.now();
      while (performance.now() - start < seconds * 1000) {
        env.stepWithoutObservation(action());
        const t0 = performance.now();
        env.observe(out);
        renderMs += performance.now() - t0;
        frames++;
      }
      console.log(JSON.stringify({ bench: 'env', task: task.id, metric: 'render_fps', size, value: Math.round((frames / renderMs) * 1000), frames, loadavg1: load() }));
      if (size === sizes[0]) {
        // Physics alone, in control steps (each = env.substeps mj_steps + one mj_forward + the reward).
        let steps = 0;
        const t0 = performance.now();
        while (performance.now() - t0 < seconds * 1000) {
          for (let i = 0; i < 50; i++) env.stepWithoutObservation(action());
          steps += 50;
        }
        const s = (performance.now() - t0) / 1000;
        console.log(
          JSON.stringify({
            bench: 'env',
            task: task.id,
            metric: 'physics_steps_per_s',
            value: Math.round((steps * env.substeps) / s),
            controlStepsPerS: Math.round(steps / s),
            substeps: env.substeps,
            loadavg1: load(),
          }),
        );
      }
      env.close();
    }
  }
}

async function randomReturns(task: MujocoTask, episodes: number): Promise<{ episodes: number; mean: number; std: number; min: number; max: number }> {
  // Rewards need no pixels: render at 1x1 so this measures the policy, not the renderer.
  const env = await MujocoEnv.create(task, { imageSize: 1 });
  const rng = new Rng(1234);
  const returns: number[] = [];
  for (let e = 0; e < episodes; e++) {
    env.reset({ seed: 1000 + e });
    let ret = 0;
    for (let t = 0; t < task.episodeSteps; t++) {
      ret += env.stepWithoutObservation(Float32Array.from({ length: task.actionDim }, () => 2 * rng.uniform() - 1)).reward;
    }
    returns.push(ret);
  }
  env.close();
  const mean = returns.reduce((a, b) => a + b, 0) / episodes;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / episodes);
  const r1 = (x: number): number => Math.round(x * 10) / 10;
  return { episodes, mean: r1(mean), std: r1(std), min: r1(Math.min(...returns)), max: r1(Math.max(...returns)) };
}

import { MujocoEnv } from '../../envs/mujoco/env.js';
import { loadMujoco } from '../../envs/mujoco/module.js';
import type { RendererFactory } from '../../envs/mujoco/renderer.js';
import type { MujocoTask } from '../../envs/mujoco/task.js';

/** A renderer that draws nothing, so physics and reward tests run at physics speed. */
export function blankRenderer(counter?: { renders: number }): RendererFactory {
  return (_mj, _model, { width, height }) => ({
    render: (_data, out) => {
      if (counter) counter.renders++;
      return out ?? new Uint8Array(width * height * 3);
    },
    dispose: () => {},
  });
}

export async function physicsEnv(task: MujocoTask, counter?: { renders: number }): Promise<MujocoEnv> {
  return new MujocoEnv(await loadMujoco(), task, blankRenderer(counter), { imageSize: 4 });
}

export function randomAction(n: number, rng: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => 2 * rng() - 1);
}

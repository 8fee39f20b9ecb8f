import type { MainModule } from '@mujoco/mujoco';

export type MujocoModule = MainModule;

let loading: Promise<MujocoModule> | undefined;

/**
 * The MuJoCo WebAssembly module, instantiated once per process (or worker):
 * each instance owns a 2 GiB heap, so every env in a thread shares this one.
 */
export function loadMujoco(): Promise<MujocoModule> {
  loading ??= import('@mujoco/mujoco').then((m) => m.default());
  return loading;
}

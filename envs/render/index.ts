// CPU ray-casting renderer for MuJoCo scenes (see renderer.ts).

export { Renderer, type RenderOptions } from './renderer.js';
export { RenderError } from './errors.js';
export { FREE_CAMERA, cameraNames } from './camera.js';
export type { MujocoModule, MjModel, MjData } from './mujoco.js';

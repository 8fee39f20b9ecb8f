export * from './types.js';
export { makeEnv, listEnvs, getTask, MUJOCO_TASKS, DEFAULT_IMAGE_SIZE, type MakeEnvOptions, type EnvInfo } from './registry.js';
export { checkEnv, type CheckEnvOptions } from './checker.js';
export { tolerance, sigmoid, type Sigmoid, type ToleranceOptions } from './rewards.js';
export { EnvError, InvalidActionError, UnknownEnvError, EnvCheckError, MujocoModelError } from './errors.js';
export { MujocoEnv, type MujocoEnvOptions } from './mujoco/env.js';
export { ToyReach } from './toy/toy-reach.js';
export { isSkipRenderCapable, type SkipRenderCapable } from './skip-render.js';
export * from './wrappers/index.js';

import type { Rng } from '../../src/core/rng.js';
import type { Physics } from './physics.js';

/** Per-episode state a task keeps outside MjData (for example a target drawn at reset). */
export type TaskState = { readonly [key: string]: number | readonly number[] };

/**
 * A pixel control task on a MuJoCo model, in the shape of a dm_control Task:
 * the model, how an episode starts, and the per-step reward in [0, 1].
 */
export interface MujocoTask {
  readonly id: string;
  readonly description: string;
  /** The MJCF model (written for this project). */
  readonly xml: string;
  /** Camera the agent sees through. */
  readonly camera: string;
  /** Seconds of simulated time per control step; a multiple of the model timestep. */
  readonly controlTimestep: number;
  /** Control steps per episode (dm_control: time limit / control timestep). */
  readonly episodeSteps: number;
  readonly actionDim: number;
  /** Binds name lookups once and returns the episode logic for this physics instance. */
  bind(physics: Physics): BoundTask;
}

export interface BoundTask {
  /** Sets the initial state after mj_resetData; may step physics (the env calls mj_forward after). */
  initialize(rng: Rng): void;
  /** Reward for the current state (derived quantities are up to date). */
  reward(): number;
  /** Task state not held in qpos/qvel, for snapshots; omitted when there is none. */
  getState?(): TaskState;
  setState?(state: TaskState): void;
}

/**
 * What every Control Suite model includes from suite/common/: the head light
 * of visual.xml (MuJoCo's default is 0.1 ambient / 0.4 diffuse, visibly
 * darker), the gradient skybox of skybox.xml (without its random white dots,
 * which our renderer does not draw), and the grid floor and colours of
 * materials.xml.
 */
export const COMMON_ASSETS = `
  <visual>
    <headlight ambient=".4 .4 .4" diffuse=".8 .8 .8" specular="0.1 0.1 0.1"/>
  </visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1=".1 .2 .3" rgb2=".2 .3 .4" width="300" height="300" mark="edge" markrgb=".2 .3 .4"/>
    <texture name="skybox" type="skybox" builtin="gradient" rgb1=".4 .6 .8" rgb2="0 0 0" width="800" height="800"/>
    <material name="grid" texture="grid" texrepeat="1 1" texuniform="true" reflectance=".2"/>
    <material name="self" rgba=".7 .5 .3 1"/>
    <material name="effector" rgba=".7 .4 .2 1"/>
    <material name="decoration" rgba=".3 .5 .7 1"/>
    <material name="target" rgba=".6 .3 .3 1"/>
  </asset>`;

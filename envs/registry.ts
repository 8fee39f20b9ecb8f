import { EnvError, UnknownEnvError } from './errors.js';
import { MujocoEnv } from './mujoco/env.js';
import type { MujocoTask } from './mujoco/task.js';
import { ballInCupCatch } from './tasks/ball-in-cup.js';
import { cartpoleBalance, cartpoleSwingup } from './tasks/cartpole.js';
import { cheetahRun } from './tasks/cheetah.js';
import { fingerSpin } from './tasks/finger.js';
import { pendulumSwingup } from './tasks/pendulum.js';
import { reacherEasy } from './tasks/reacher.js';
import { walkerWalk } from './tasks/walker.js';
import { ToyReach } from './toy/toy-reach.js';
import type { Env, Observation } from './types.js';
import { ActionRepeat } from './wrappers/action-repeat.js';
import { EpisodeStatistics } from './wrappers/episode-statistics.js';
import { FrameStack } from './wrappers/frame-stack.js';
import { toAgentActionRange } from './wrappers/rescale-action.js';
import { TimeLimit } from './wrappers/time-limit.js';

export interface MakeEnvOptions {
  /** Square observation side in pixels (default 100). */
  imageSize?: number;
  /** Control steps per agent step (default 1); rewards are summed, only the last frame is rendered. */
  actionRepeat?: number;
  /** Frames stacked on the channel axis (default 1 = no stacking). */
  frameStack?: number;
  seed?: number;
  /** For id 'remote': the command that starts the remote env process. */
  remoteCmd?: string;
  /** Per request after start-up. */
  remoteTimeoutMs?: number;
  /** For the process to start and send its spec (imports can be slow); default max(remoteTimeoutMs, 30000). */
  remoteStartupTimeoutMs?: number;
}

export interface EnvInfo {
  id: string;
  actionDim: number;
  /** Seconds of simulated time per control step. */
  controlTimestep: number;
  /** Control steps per episode (before action repeat). */
  episodeSteps: number;
  description: string;
}

export const MUJOCO_TASKS: readonly MujocoTask[] = [
  cartpoleSwingup,
  cartpoleBalance,
  pendulumSwingup,
  fingerSpin,
  reacherEasy,
  cheetahRun,
  walkerWalk,
  ballInCupCatch,
];

const TOY_INFO: EnvInfo = {
  id: 'toy-reach',
  actionDim: 2,
  controlTimestep: 0.01,
  episodeSteps: 1000,
  description: 'pure-JS toy: move a dot onto a target disc (fast end-to-end tests, no MuJoCo)',
};

export const DEFAULT_IMAGE_SIZE = 100;

export function listEnvs(): EnvInfo[] {
  return [
    ...MUJOCO_TASKS.map((t) => ({
      id: t.id,
      actionDim: t.actionDim,
      controlTimestep: t.controlTimestep,
      episodeSteps: t.episodeSteps,
      description: t.description,
    })),
    { ...TOY_INFO },
  ];
}

/** The ids a run may name: every registered task, and 'remote' (any process that serves the protocol). */
export function runnableEnvIds(): string[] {
  return [...listEnvs().map((e) => e.id), 'remote'];
}

export function getTask(id: string): MujocoTask | undefined {
  return MUJOCO_TASKS.find((t) => t.id === id);
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new EnvError(`makeEnv: ${name} must be an integer >= 1, got ${String(value)}`);
  return v;
}

interface RemoteModule {
  createRemoteEnv(options: { command?: string; timeoutMs?: number; startupTimeoutMs?: number }): Promise<Env> | Env;
}

/**
 * Builds an env by id with the standard wrappers, innermost first:
 * task -> ActionRepeat(R) -> TimeLimit(ceil(episodeSteps / R)) ->
 * EpisodeStatistics -> FrameStack(k). Episodes are truncated, never
 * terminated, after 1000 control steps. 'remote' starts an external env
 * process (envs/remote/) and gets ActionRepeat and FrameStack only, after
 * RescaleAction to [-1, 1] when its Box action bounds are finite and differ
 * (toAgentActionRange).
 */
export async function makeEnv(id: string, options: MakeEnvOptions = {}): Promise<Env> {
  const imageSize = positiveInt('imageSize', options.imageSize, DEFAULT_IMAGE_SIZE);
  const repeat = positiveInt('actionRepeat', options.actionRepeat, 1);
  const stack = positiveInt('frameStack', options.frameStack, 1);

  let env: Env;
  let episodeSteps: number | undefined;
  if (id === 'remote') {
    // Loaded on demand: the remote client pulls in node-pty, which built-in tasks never need.
    const specifier = './remote/index.js';
    let remote: RemoteModule;
    try {
      remote = (await import(specifier)) as RemoteModule;
    } catch (error) {
      throw new EnvError(`env 'remote' is unavailable: could not load envs/remote/index.js (${error instanceof Error ? error.message : String(error)})`, { cause: error });
    }
    env = await remote.createRemoteEnv({ command: options.remoteCmd, timeoutMs: options.remoteTimeoutMs, startupTimeoutMs: options.remoteStartupTimeoutMs });
    env = toAgentActionRange(env as Env<Observation, Float32Array>) as Env;
  } else if (id === TOY_INFO.id) {
    env = new ToyReach({ imageSize, seed: options.seed }) as unknown as Env;
    episodeSteps = TOY_INFO.episodeSteps;
  } else {
    const task = getTask(id);
    if (!task) {
      const known = [...listEnvs().map((e) => e.id), 'remote'];
      throw new UnknownEnvError(`unknown env id ${JSON.stringify(id)}; registered ids: ${known.join(', ')}`);
    }
    env = (await MujocoEnv.create(task, { imageSize, seed: options.seed })) as unknown as Env;
    episodeSteps = task.episodeSteps;
  }

  if (repeat > 1) env = new ActionRepeat(env, repeat);
  if (episodeSteps !== undefined) {
    env = new TimeLimit(env, Math.ceil(episodeSteps / repeat));
    env = new EpisodeStatistics(env);
  }
  if (stack > 1) env = new FrameStack(env as Env<Uint8Array>, stack) as unknown as Env;
  return env;
}

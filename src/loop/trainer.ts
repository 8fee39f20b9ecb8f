import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Subject } from 'rxjs';
import { coreShareWorkers, createAgent, usesConvWorkers, type CurlSacAgent } from '../../agents/index.js';
import { makeEnv, type MakeEnvOptions } from '../../envs/registry.js';
import { isSnapshotCapable, spaceSize, type Env, type EnvSnapshot, type StepResult } from '../../envs/types.js';
import { FrameStacker } from '../../envs/wrappers/frame-stack.js';
import { centerCrop } from '../../replay/augment.js';
import { ReplayBuffer } from '../../replay/buffer.js';
import type { Batch } from '../../replay/types.js';
import { activeBackendName } from '../backend.js';
import { resolveConvEngine } from '../conv-engine.js';
import type { Config } from '../config/schema.js';
import { ConfigError, CurlRlError } from '../errors.js';
import { Rng, type RngState } from '../rng.js';
import type { CheckpointRecord, EpisodeRecord, EvalRecord, MetricsLog, RestartRecord, TrainRecord } from '../run/metrics.js';
import { evaluatePolicy } from './evaluate.js';
import { checkpointFiles, readLoopState, readMsgpackFile, writeCheckpoint, writeMsgpackFile } from './checkpoint.js';

/** An update produced a NaN or infinite loss; the run stops without checkpointing the damaged weights. */
export class NonFiniteLossError extends CurlRlError {}

/** The environment failed and could not (or may not) be restarted. */
export class EnvFailedError extends CurlRlError {}

export type LoopEvent =
  | { type: 'transition'; agentStep: number; envStep: number; reward: number; terminated: boolean; truncated: boolean }
  | { type: 'update'; agentStep: number; envStep: number; updates: number; metrics: Record<string, number> }
  | { type: 'episode'; record: EpisodeRecord }
  | { type: 'train'; record: TrainRecord }
  | { type: 'eval'; record: EvalRecord }
  | { type: 'checkpoint'; record: CheckpointRecord }
  | { type: 'restart'; record: RestartRecord };

interface Counters {
  agentStep: number;
  envStep: number;
  updates: number;
  episode: number;
  episodeReturn: number;
  episodeLength: number;
  restarts: number;
  /** Agent steps below which actions are uniform random (initSteps, or longer after a resume without replay). */
  randomUntil: number;
}

interface LoopState {
  version: 1;
  counters: Counters;
  rng: { prng: RngState; spareNormal: number | null };
  needReset: boolean;
  /** The frames in the actor's stack, oldest first; null when an episode must start on resume. */
  stackFrames: Uint8Array[] | null;
  envSnapshot: EnvSnapshot | null;
  metricsOffset: number;
  wallTime: number;
  window: { envStep: number; updates: number; wallTime: number };
  metricSums: Record<string, { sum: number; count: number }>;
  replaySaved: boolean;
}

const maxEnvRestarts = 3;

type RestartableEnv = Env & { restart(): Promise<void> };

/** A failed remote process can be restarted; any other env failure is final. */
function restartableAfter(env: Env, error: unknown): env is RestartableEnv {
  return error instanceof Error && /^Remote/.test(error.name) && typeof (env as Partial<RestartableEnv>).restart === 'function';
}

/** Seeds per episode: deterministic, independent of how many random numbers anything else drew. */
/** The options every env of a run is made with (training, evaluation, `curl-rl eval`); only the seed differs. */
export function runEnvOptions(config: Config, seed: number): MakeEnvOptions {
  return { imageSize: config.imageSize, actionRepeat: config.actionRepeat, seed, remoteCmd: config.remoteCmd, remoteTimeoutMs: config.remoteTimeoutMs };
}

export function episodeSeed(base: number, episode: number): number {
  return (base * 1_000_003 + episode * 7_919) % 2_147_483_647;
}

export interface TrainerParts {
  config: Config;
  runDir: string;
  log: MetricsLog;
  env: Env;
  agent: CurlSacAgent;
  replay: ReplayBuffer;
  rng: Rng;
}

/**
 * Owns the training state and advances it one agent step at a time. All state
 * changes happen inside stepOnce(), evaluate() and checkpoint(), which the
 * loop calls strictly in sequence; everything else observes `events`. Events
 * are emitted synchronously, so the metrics log (a subscriber) has written a
 * step's records before that step's checkpoint records the log's length.
 */
export class Trainer {
  readonly events = new Subject<LoopEvent>();
  readonly config: Config;
  readonly runDir: string;
  readonly log: MetricsLog;
  readonly agent: CurlSacAgent;
  readonly replay: ReplayBuffer;
  private env: Env;
  private evalEnv: Env | null = null;
  private rng: Rng;
  private stacker: FrameStacker;
  /** The actor's current observation, the stacker's latest output. */
  private stacked: Uint8Array = new Uint8Array(0);
  private needReset = true;
  private counters: Counters;
  private wallTimeBase = 0;
  private segmentStart = performance.now();
  private window = { envStep: 0, updates: 0, wallTime: 0 };
  private readonly cropBuffer: Uint8Array;
  private readonly frameShape: [number, number, number];

  constructor(parts: TrainerParts) {
    this.config = parts.config;
    this.runDir = parts.runDir;
    this.log = parts.log;
    this.env = parts.env;
    this.agent = parts.agent;
    this.replay = parts.replay;
    this.rng = parts.rng;
    const size = parts.config.imageSize;
    this.frameShape = [size, size, 3];
    this.stacker = new FrameStacker(this.frameShape, parts.config.frameStack);
    this.cropBuffer = new Uint8Array(parts.config.cropSize * parts.config.cropSize * 3 * parts.config.frameStack);
    this.counters = {
      agentStep: 0,
      envStep: 0,
      updates: 0,
      episode: 0,
      episodeReturn: 0,
      episodeLength: 0,
      restarts: 0,
      randomUntil: parts.config.initSteps,
    };
  }

  get agentStep(): number {
    return this.counters.agentStep;
  }

  get envStep(): number {
    return this.counters.envStep;
  }

  get updates(): number {
    return this.counters.updates;
  }

  get finished(): boolean {
    return this.counters.envStep >= this.config.steps;
  }

  wallTime(): number {
    return this.wallTimeBase + (performance.now() - this.segmentStart) / 1000;
  }

  private stamp(): { agentStep: number; envStep: number; wallTime: number } {
    return { agentStep: this.counters.agentStep, envStep: this.counters.envStep, wallTime: round(this.wallTime(), 3) };
  }

  private pushFrame(frame: Uint8Array, reset: boolean): void {
    this.stacked = reset ? this.stacker.reset(frame) : this.stacker.push(frame);
  }

  private async startEpisode(): Promise<void> {
    const { observation } = await this.env.reset({ seed: episodeSeed(this.config.seed, this.counters.episode) });
    const frame = observation as Uint8Array;
    this.replay.addReset(frame);
    this.pushFrame(frame, true);
    this.counters.episodeReturn = 0;
    this.counters.episodeLength = 0;
    this.needReset = false;
  }

  private chooseAction(): Float32Array {
    const space = this.env.actionSpace;
    if (space.kind !== 'box') throw new ConfigError(`SAC needs a continuous (Box) action space; ${this.config.env} has a Discrete one.`);
    const dim = spaceSize(space);
    if (this.counters.agentStep < this.counters.randomUntil) {
      const action = new Float32Array(dim);
      for (let i = 0; i < dim; i++) action[i] = this.rng.uniform() * 2 - 1;
      return action;
    }
    const obs = centerCrop(this.stacked, this.config.imageSize, 3 * this.config.frameStack, this.config.cropSize, this.cropBuffer);
    return this.agent.act(obs, { deterministic: false });
  }

  /** Restarts a failed remote env (bounded), recording it; any other env failure is fatal. */
  private async recoverEnv(error: unknown): Promise<void> {
    const env = this.env;
    const restartable = restartableAfter(env, error);
    if (!restartable || this.counters.restarts >= maxEnvRestarts) {
      const why = error instanceof Error ? error.message : String(error);
      throw new EnvFailedError(
        `The environment '${this.config.env}' failed at agent step ${this.counters.agentStep}: ${why}` +
          (restartable ? ` (gave up after ${maxEnvRestarts} restarts)` : ''),
        { cause: error },
      );
    }
    await env.restart();
    this.counters.restarts += 1;
    this.needReset = true;
    // The interrupted episode has no further transitions; the replay never samples past its last stored step.
    const record: RestartRecord = {
      type: 'restart',
      ...this.stamp(),
      error: error instanceof Error ? error.message : String(error),
      restarts: this.counters.restarts,
    };
    this.events.next({ type: 'restart', record });
  }

  /** One agent step: act, step the env, store the transition, update, and the bookkeeping that falls on this step. */
  async stepOnce(): Promise<void> {
    if (this.needReset) {
      try {
        await this.startEpisode();
      } catch (error) {
        await this.recoverEnv(error);
        return;
      }
    }
    const action = this.chooseAction();
    let result: StepResult;
    try {
      result = await this.env.step(action);
    } catch (error) {
      await this.recoverEnv(error);
      return;
    }
    const frame = result.observation as Uint8Array;
    this.replay.addStep({ action, reward: result.reward, terminated: result.terminated, truncated: result.truncated, nextFrame: frame });
    this.pushFrame(frame, false);
    const c = this.counters;
    const previousEnvStep = c.envStep;
    c.agentStep += 1;
    c.envStep += this.config.actionRepeat;
    c.episodeReturn += result.reward;
    c.episodeLength += 1;
    this.events.next({ type: 'transition', agentStep: c.agentStep, envStep: c.envStep, reward: result.reward, terminated: result.terminated, truncated: result.truncated });

    if (c.agentStep > c.randomUntil && this.replay.size >= 1) {
      // The previous batch's arrays are reused: the agent has finished with them once update() resolves.
      const batch = this.replay.sample(this.config.batchSize, this.rng, {
        cropSize: this.config.cropSize,
        positive: this.config.aux === 'curl',
        into: this.previousBatch,
      });
      this.previousBatch = batch;
      const metrics = await this.agent.update(batch, c.updates);
      for (const [name, value] of Object.entries(metrics)) {
        if (!Number.isFinite(value)) {
          throw new NonFiniteLossError(
            `${name} became ${value} at update ${c.updates} (agent step ${c.agentStep}); the run stopped and kept its last checkpoint, which predates this update. ` +
              'Lower --lr or check the environment\'s rewards.',
          );
        }
      }
      c.updates += 1;
      for (const [name, value] of Object.entries(metrics)) {
        const slot = (this.metricSums[name] ??= { sum: 0, count: 0 });
        slot.sum += value;
        slot.count += 1;
      }
      this.events.next({ type: 'update', agentStep: c.agentStep, envStep: c.envStep, updates: c.updates, metrics });
    }

    if (result.terminated || result.truncated) {
      const record: EpisodeRecord = { type: 'episode', ...this.stamp(), episode: c.episode, return: c.episodeReturn, length: c.episodeLength };
      this.events.next({ type: 'episode', record });
      c.episode += 1;
      this.needReset = true;
    }

    if (crossed(previousEnvStep, c.envStep, this.config.logEvery)) this.logTrain();
    const finished = this.finished;
    if (crossed(previousEnvStep, c.envStep, this.config.evalEvery) || finished) await this.evaluate();
    if (crossed(previousEnvStep, c.envStep, this.config.checkpointEvery) && !finished) await this.checkpoint('periodic');
  }

  private previousBatch: Batch | undefined;
  /** Update metrics summed since the last train record: the record reports their means over its window. */
  private metricSums: Record<string, { sum: number; count: number }> = {};

  private logTrain(): void {
    const now = this.wallTime();
    const elapsed = Math.max(1e-9, now - this.window.wallTime);
    const record: TrainRecord = {
      type: 'train',
      ...this.stamp(),
      updates: this.counters.updates,
      envStepsPerSec: round((this.counters.envStep - this.window.envStep) / elapsed, 3),
      updatesPerSec: round((this.counters.updates - this.window.updates) / elapsed, 4),
      ...Object.fromEntries(Object.entries(this.metricSums).map(([name, { sum, count }]) => [name, sum / count])),
    };
    this.metricSums = {};
    this.window = { envStep: this.counters.envStep, updates: this.counters.updates, wallTime: now };
    this.events.next({ type: 'train', record });
  }

  /** Deterministic policy on centre-cropped stacks in a separate env instance: training state is untouched. */
  async evaluate(): Promise<EvalRecord> {
    const config = this.config;
    const env = (this.evalEnv ??= await makeEnv(config.env, runEnvOptions(config, config.seed + 100_000)));
    const seeds = Array.from({ length: config.evalEpisodes }, (_, i) => episodeSeed(config.seed + 100_000, this.counters.envStep * 31 + i));
    let result: Awaited<ReturnType<typeof evaluatePolicy>> | undefined;
    // A remote eval env that fails is restarted and the evaluation redone: its episodes are seeded, so the result is the same.
    for (let attempt = 0; result === undefined; attempt++) {
      try {
        result = await evaluatePolicy(env, this.agent, config, seeds);
      } catch (error) {
        if (!restartableAfter(env, error) || attempt >= maxEnvRestarts) {
          throw new EnvFailedError(`The evaluation environment '${config.env}' failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        }
        await env.restart();
      }
    }
    const { mean, std, returns } = result;
    const record: EvalRecord = { type: 'eval', ...this.stamp(), mean, std, returns };
    this.events.next({ type: 'eval', record });
    return record;
  }

  async checkpoint(reason: string): Promise<string> {
    const loopState = (): LoopState => ({
      version: 1,
      counters: { ...this.counters },
      rng: this.rng.getState(),
      needReset: this.needReset,
      stackFrames: this.needReset ? null : this.stacker.framesOldestFirst(),
      envSnapshot: !this.needReset && isSnapshotCapable(this.env) ? this.env.getSnapshot() : null,
      // Taken before the checkpoint record is appended: a resume drops that record and writes a 'resume' record instead.
      metricsOffset: this.log.offset(),
      wallTime: this.wallTime(),
      window: this.window,
      metricSums: this.metricSums,
      replaySaved: this.config.saveReplay,
    });
    const path = await writeCheckpoint(
      this.runDir,
      this.counters.agentStep,
      {
        writeAgent: async (file) => writeMsgpackFile(file, await this.agent.getState()),
        writeReplay: async (file) => (this.config.saveReplay ? this.replay.save(file) : undefined),
        loopState,
      },
      this.config.keepCheckpoints,
    );
    const record: CheckpointRecord = { type: 'checkpoint', ...this.stamp(), path, reason };
    this.events.next({ type: 'checkpoint', record });
    return path;
  }

  /** Restores the state saved by checkpoint(); the metrics log is cut back to what that checkpoint had seen. */
  async restore(checkpointDir: string): Promise<void> {
    const state = readLoopState<LoopState>(checkpointDir);
    if (state.version !== 1) throw new ConfigError(`${checkpointDir} was written by an incompatible version (loop state v${state.version}).`);
    this.agent.setState(readMsgpackFile(join(checkpointDir, checkpointFiles.agent)));
    const replayFile = join(checkpointDir, checkpointFiles.replay);
    this.counters = { ...state.counters };
    if (state.replaySaved && existsSync(replayFile)) await this.replay.load(replayFile);
    else this.counters.randomUntil = this.counters.agentStep + this.config.initSteps;
    this.rng = Rng.fromState(state.rng);
    this.wallTimeBase = state.wallTime;
    this.segmentStart = performance.now();
    this.window = { ...state.window };
    this.metricSums = structuredClone(state.metricSums);
    this.log.truncateTo(state.metricsOffset);
    const canContinueEpisode = !state.needReset && state.stackFrames !== null && state.envSnapshot !== null && isSnapshotCapable(this.env);
    if (canContinueEpisode) {
      // The env must exist in its episode before its state can be overwritten.
      await this.env.reset({ seed: episodeSeed(this.config.seed, this.counters.episode) });
      (this.env as unknown as { restoreSnapshot(s: EnvSnapshot): void }).restoreSnapshot(state.envSnapshot!);
      this.stacker.restoreFrames(state.stackFrames!.map((f) => new Uint8Array(f)));
      this.stacked = this.stacker.stack();
      this.needReset = false;
    } else {
      if (!state.needReset) {
        // The env cannot restore mid-episode state (e.g. a remote process): the partial episode ends here.
        this.counters.episode += 1;
      }
      this.needReset = true;
    }
  }

  async close(): Promise<void> {
    await this.env.close();
    if (this.evalEnv) await this.evalEnv.close();
    this.events.complete();
  }
}

function crossed(before: number, after: number, every: number): boolean {
  return Math.floor(before / every) < Math.floor(after / every);
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export async function buildTrainer(config: Config, runDir: string, log: MetricsLog): Promise<Trainer> {
  const env = await makeEnv(config.env, runEnvOptions(config, config.seed));
  const space = env.observationSpace;
  if (space.kind !== 'box' || space.dtype !== 'uint8' || space.shape.length !== 3 || space.shape[2] !== 3) {
    await env.close();
    throw new ConfigError(
      `Environment '${config.env}' must produce uint8 RGB frames [H, W, 3]; it has ${JSON.stringify(space)}.`,
    );
  }
  if (space.shape[0] !== config.imageSize || space.shape[1] !== config.imageSize) {
    await env.close();
    throw new ConfigError(
      `Environment '${config.env}' renders ${space.shape[0]}x${space.shape[1]} frames but --image-size is ${config.imageSize}; set --image-size ${space.shape[0]} (and --crop-size below it).`,
    );
  }
  const actionSpace = env.actionSpace;
  if (actionSpace.kind !== 'box') {
    await env.close();
    throw new ConfigError(`SAC needs a continuous (Box) action space; '${config.env}' has a Discrete one.`);
  }
  const actionDim = spaceSize(actionSpace);
  const replay = new ReplayBuffer({
    capacity: config.replayCapacity,
    frameShape: [config.imageSize, config.imageSize, 3],
    actionDim,
    frameStack: config.frameStack,
  });
  const backend = activeBackendName();
  const { engine } = resolveConvEngine(config.convEngine, backend);
  // libtorch threads itself on any backend; its thread count is convWorkers + 1, like the tfjs workers' share
  const convWorkers = usesConvWorkers(backend) || engine === 'libtorch' ? (config.convWorkers ?? coreShareWorkers()) : 0;
  const agent = createAgent({ ...config, convWorkers, convEngine: engine }, { obsShape: [config.cropSize, config.cropSize, 3 * config.frameStack], actionDim }, config.seed);
  return new Trainer({ config, runDir, log, env, agent, replay, rng: new Rng(`loop-${config.seed}`) });
}

import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { Subject } from 'rxjs';
import { AgentError, coreShareWorkers, singleThreadedBackend, type AgentState, type CurlSacAgent } from '../../agents/index.js';
import { createAgent } from '../agent.js';
import { EnvError } from '../../envs/errors.js';
import { makeEnv, type MakeEnvOptions } from '../../envs/registry.js';
import { isSnapshotCapable, spaceSize, type Env, type EnvSnapshot, type StepResult } from '../../envs/types.js';
import { FrameStacker } from '../../envs/wrappers/frame-stack.js';
import { Wrapper } from '../../envs/wrappers/wrapper.js';
import type { Augmentation } from '../../replay/augment.js';
import { centerCrop } from '../../replay/image-kernels.js';
import { buildAugmentation } from '../../replay/aug-spec.js';
import { ReplayBuffer } from '../../replay/buffer.js';
import { ReplayFileError } from '../../replay/errors.js';
import type { Batch } from '../../replay/types.js';
import { activeBackendName } from '../backend.js';
import { resolveConvEngine } from '../conv-engine.js';
import type { Config } from '../config/schema.js';
import { ConfigError, CurlRlError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { CheckpointRecord, EpisodeRecord, EvalRecord, MetricsLog, RestartRecord, TrainRecord } from '../run/metrics.js';
import { DamagedFileError } from '../run/checked-file.js';
import { describeFsError, systemErrorIn } from '../run/run-dir.js';
import { cutEventFiles, eventFileSizes, tensorBoardDir } from '../run/tensorboard/event-files.js';
import { nonFiniteMetricError } from './diverged.js';
import { evaluatePolicy } from './evaluate.js';
import { StepTimes } from './step-times.js';
import {
  checkpointCandidates, checkpointDirFor, checkpointFiles, readCheckpointFile, setAsideDamaged, writeCheckpoint, writeMsgpackFile,
} from './checkpoint.js';
import { parseLoopState, type Counters, type LoopState } from './loop-state.js';

export interface RestoreOptions {
  /** Whether config.steps came from --steps on this command line (false: from config.json), for the message when it is below the checkpoint. */
  stepsGiven?: boolean;
}

/** The environment failed and could not (or may not) be restarted. */
export class EnvFailedError extends CurlRlError {}

/** The run's own files (metrics log, status, eval table) could not be written: the run stops, its checkpoints stay as they were. */
export class RunFilesError extends CurlRlError {}

/** Every checkpoint of a run is damaged: nothing trustworthy to resume from. */
export class NoIntactCheckpointError extends CurlRlError {}

export type LoopEvent =
  | { type: 'transition'; agentStep: number; envStep: number; reward: number; terminated: boolean; truncated: boolean }
  | { type: 'update'; agentStep: number; envStep: number; updates: number; metrics: Record<string, number> }
  | { type: 'episode'; record: EpisodeRecord }
  | { type: 'train'; record: TrainRecord }
  /** frames: every frame of the evaluation's first episode, when the run writes TensorBoard files. */
  | { type: 'eval'; record: EvalRecord; frames?: Uint8Array[] }
  | { type: 'checkpoint'; record: CheckpointRecord }
  | { type: 'restart'; record: RestartRecord };

const maxEnvRestarts = 3;

type RestartableEnv = Env & { restart(): Promise<void> };

/**
 * Whether the whole wrapper stack can save its state: every wrapper has
 * getSnapshot(), but only works when the env inside it does (a remote process cannot).
 */
function snapshotsSupported(env: Env): boolean {
  let layer: unknown = env;
  while (layer instanceof Wrapper) layer = layer.env;
  return isSnapshotCapable(layer);
}

/** A failed remote process can be restarted; any other env failure is final. */
function restartableAfter(env: Env, error: unknown): env is RestartableEnv {
  return error instanceof Error && /^Remote/.test(error.name) && typeof (env as Partial<RestartableEnv>).restart === 'function';
}

/** Seeds per episode: deterministic, independent of how many random numbers anything else drew. */
/** The options every env of a run is made with (training, evaluation, `curl-rl eval`); only the seed differs. */
export function runEnvOptions(config: Config, seed: number): MakeEnvOptions {
  return {
    imageSize: config.imageSize,
    actionRepeat: config.actionRepeat,
    seed,
    remoteCmd: config.remoteCmd,
    remoteTimeoutMs: config.remoteTimeoutMs,
    remoteStartupTimeoutMs: config.remoteStartupTimeoutMs,
  };
}

export function episodeSeed(base: number, episode: number): number {
  return (base * 1_000_003 + episode * 7_919) % 2_147_483_647;
}

/**
 * A checkpoint's agent.msgpack, checked against `agent` (structure, every
 * tensor's and optimiser slot's shape) without changing it: a state that does
 * not fit is a DamagedFileError like a bad checksum, so callers fall back to
 * an older checkpoint.
 */
export function readAgentCheckpoint(file: string, agent: CurlSacAgent): AgentState {
  return readCheckpointFile(file, (value) => {
    try {
      agent.checkState(value);
    } catch (error) {
      if (error instanceof AgentError) throw new Error(`it does not fit this run's agent: ${error.message.replace(/^agent: setState: /, '')}`, { cause: error });
      throw error;
    }
    return value;
  });
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
  /** --aug, built once: the views of obs, positive and next_obs for the updates. */
  private readonly augmentation: Augmentation;
  private readonly frameShape: [number, number, number];
  /** Where the steps' time goes (experiments/bench/train.ts reads it). */
  readonly stepTimes = new StepTimes();

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
    // with shift, cropSize = imageSize (the schema checks it), so the centre crop that act and eval see is the whole frame
    this.augmentation = buildAugmentation(parts.config.aug, size, parts.config.cropSize);
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

  /** Agent steps below which actions are uniform random. */
  get randomUntil(): number {
    return this.counters.randomUntil;
  }

  private sinkFailure: RunFilesError | null = null;

  /**
   * Wraps an observer of `events` that writes the run's files. rxjs reports an
   * error thrown inside a subscriber asynchronously, out of the loop's reach;
   * this keeps it, and the emission that caused it throws it, so the step
   * fails like any fatal error and no later checkpoint misses a record.
   */
  guard<T>(file: string, write: (value: T) => void): (value: T) => void {
    return (value) => {
      if (this.sinkFailure) return;
      try {
        write(value);
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        this.sinkFailure = new RunFilesError(`${file} could not be written: ${why}`, { cause: error });
      }
    };
  }

  private emit(event: LoopEvent): void {
    this.events.next(event);
    if (this.sinkFailure) throw this.sinkFailure;
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
    this.emit({ type: 'restart', record });
  }

  /** One agent step: act, step the env, store the transition, update, and the bookkeeping that falls on this step. */
  async stepOnce(): Promise<void> {
    await this.stepTimes.time('total', () => this.step());
    this.stepTimes.countStep();
  }

  private async step(): Promise<void> {
    const times = this.stepTimes;
    if (this.needReset) {
      try {
        await times.time('env', () => this.startEpisode());
      } catch (error) {
        await this.recoverEnv(error);
        return;
      }
    }
    const action = times.timeSync('act', () => this.chooseAction());
    let result: StepResult;
    try {
      result = await times.time('env', () => this.env.step(action));
    } catch (error) {
      await this.recoverEnv(error);
      return;
    }
    const frame = result.observation as Uint8Array;
    times.timeSync('replay', () => this.replay.addStep({ action, reward: result.reward, terminated: result.terminated, truncated: result.truncated, nextFrame: frame }));
    this.pushFrame(frame, false);
    const c = this.counters;
    const previousEnvStep = c.envStep;
    c.agentStep += 1;
    c.envStep += this.config.actionRepeat;
    c.episodeReturn += result.reward;
    c.episodeLength += 1;
    this.emit({ type: 'transition', agentStep: c.agentStep, envStep: c.envStep, reward: result.reward, terminated: result.terminated, truncated: result.truncated });

    if (c.agentStep > c.randomUntil && this.replay.size >= 1) {
      // The previous batch's arrays are reused: the agent has finished with them once update() resolves.
      const batch = times.timeSync('replay', () => this.replay.sample(this.config.batchSize, this.rng, {
        cropSize: this.config.cropSize,
        augmentation: this.augmentation,
        obsViews: this.config.augM,
        nextViews: this.config.augK,
        positive: this.config.aux !== 'none',
        into: this.previousBatch,
      }));
      this.previousBatch = batch;
      const metrics = await times.time('update', () => this.agent.update(batch, c.updates));
      const diverged = nonFiniteMetricError(metrics, this.config, { update: c.updates, agentStep: c.agentStep });
      if (diverged) throw diverged;
      c.updates += 1;
      for (const [name, value] of Object.entries(metrics)) {
        const slot = (this.metricSums[name] ??= { sum: 0, count: 0 });
        slot.sum += value;
        slot.count += 1;
      }
      this.emit({ type: 'update', agentStep: c.agentStep, envStep: c.envStep, updates: c.updates, metrics });
    }

    if (result.terminated || result.truncated) {
      const record: EpisodeRecord = { type: 'episode', ...this.stamp(), episode: c.episode, return: c.episodeReturn, length: c.episodeLength };
      this.emit({ type: 'episode', record });
      c.episode += 1;
      this.needReset = true;
    }

    if (crossed(previousEnvStep, c.envStep, this.config.logEvery)) this.logTrain();
    const finished = this.finished;
    if (crossed(previousEnvStep, c.envStep, this.config.evalEvery) || finished) await times.time('eval', () => this.evaluate());
    if (crossed(previousEnvStep, c.envStep, this.config.checkpointEvery) && !finished) await times.time('checkpoint', () => this.periodicCheckpoint());
  }

  /**
   * A periodic checkpoint the system refuses to write (a full disk, a file
   * system gone read-only) stops the run as a failure to write its own files,
   * named as this checkpoint: a final checkpoint would meet the same disk, and
   * the checkpoint before this one is intact (it was written whole, then renamed).
   */
  private async periodicCheckpoint(): Promise<void> {
    try {
      await this.checkpoint('periodic');
    } catch (error) {
      const refused = systemErrorIn(error);
      if (refused === undefined || error instanceof RunFilesError) throw error;
      throw new RunFilesError(
        `the periodic checkpoint at agent step ${this.counters.agentStep} could not be written: ${describeFsError(refused)}; the checkpoint before it is intact`,
        { cause: error },
      );
    }
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
    this.emit({ type: 'train', record });
  }

  /** Deterministic policy on centre-cropped stacks in a separate env instance: training state is untouched. */
  async evaluate(): Promise<EvalRecord> {
    const config = this.config;
    const env = (this.evalEnv ??= await makeEnv(config.env, runEnvOptions(config, config.seed + 100_000)));
    const seeds = Array.from({ length: config.evalEpisodes }, (_, i) => episodeSeed(config.seed + 100_000, this.counters.envStep * 31 + i));
    let result: Awaited<ReturnType<typeof evaluatePolicy>> | undefined;
    // the first episode's frames, for TensorBoard's image of this evaluation
    const frames: Uint8Array[] | undefined = config.tensorboard ? [] : undefined;
    const onFrame = frames ? (frame: Uint8Array, episode: number) => void (episode === 0 && frames.push(frame.slice())) : undefined;
    // A remote eval env that fails is restarted and the evaluation redone: its episodes are seeded, so the result is the same.
    for (let attempt = 0; result === undefined; attempt++) {
      try {
        frames?.splice(0);
        result = await evaluatePolicy(env, this.agent, config, seeds, onFrame);
      } catch (error) {
        if (!restartableAfter(env, error) || attempt >= maxEnvRestarts) {
          throw new EnvFailedError(`The evaluation environment '${config.env}' failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        }
        await env.restart();
      }
    }
    const { mean, std, returns } = result;
    const record: EvalRecord = { type: 'eval', ...this.stamp(), mean, std, returns };
    this.emit({ type: 'eval', record, ...(frames ? { frames } : {}) });
    return record;
  }

  async checkpoint(reason: string): Promise<string> {
    if (this.sinkFailure) throw this.sinkFailure;
    const record: CheckpointRecord = { type: 'checkpoint', ...this.stamp(), path: checkpointDirFor(this.runDir, this.counters.agentStep), reason };
    // An env that cannot save its state mid-episode (a remote process) is checkpointed with the episode cut,
    // as a restart cuts it: a resume starts a new episode and makes up no transition.
    const keepEpisode = !this.needReset && snapshotsSupported(this.env);
    const loopState = (): LoopState => ({
      version: 1,
      counters: { ...this.counters },
      rng: this.rng.getState(),
      needReset: this.needReset,
      stackFrames: keepEpisode ? this.stacker.framesOldestFirst() : null,
      envSnapshot: keepEpisode && isSnapshotCapable(this.env) ? this.env.getSnapshot() : null,
      // Taken before the checkpoint record is appended: a resume cuts the log here and writes that record back.
      metricsOffset: this.log.offset(),
      wallTime: this.wallTime(),
      window: this.window,
      metricSums: this.metricSums,
      replaySaved: this.config.saveReplay,
      checkpointRecord: record,
      tensorboardFiles: eventFileSizes(tensorBoardDir(this.runDir)),
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
    this.emit({ type: 'checkpoint', record: { ...record, path } });
    return path;
  }

  /**
   * Restores a checkpoint. Everything is read and checked before any training
   * state changes: both files' checksums, their structure, every tensor's
   * shape against this run's agent and frames, the env snapshot (restored into
   * the env first, which a later restore resets) and the replay buffer. So a
   * DamagedFileError leaves the trainer as it was, and the caller may try an
   * older checkpoint. The metrics log is then cut back to what that checkpoint
   * had seen, plus the checkpoint's own record (rebuilt with a warning when
   * the log has lost records, see MetricsLog.resumeAt).
   */
  async restore(checkpointDir: string, say: (line: string) => void = () => {}, options: RestoreOptions = {}): Promise<void> {
    const loopFile = join(checkpointDir, checkpointFiles.loop);
    const state = readCheckpointFile(loopFile, (value) => parseLoopState(value, this.config, loopFile));
    const trained = state.counters.envStep;
    if (this.config.steps < trained) {
      throw new ConfigError(
        options.stepsGiven === false
          ? `config.json plans ${this.config.steps} environment steps, fewer than the ${trained} this run has already trained (${basename(checkpointDir)}), ` +
              `probably because an earlier --resume --steps was not recorded there; pass --steps ${trained} to keep them, or more to train further.`
          : `--steps ${this.config.steps} is below the ${trained} environment steps this run has already trained (${basename(checkpointDir)}); ` +
              `pass --steps above ${trained} to train it further.`,
      );
    }
    const agentState = readAgentCheckpoint(join(checkpointDir, checkpointFiles.agent), this.agent);
    const canContinueEpisode = !state.needReset && state.stackFrames !== null && state.envSnapshot !== null && isSnapshotCapable(this.env);
    if (canContinueEpisode) {
      try {
        // The env must exist in its episode before its state can be overwritten.
        await this.env.reset({ seed: episodeSeed(this.config.seed, state.counters.episode) });
        (this.env as unknown as { restoreSnapshot(s: EnvSnapshot): void }).restoreSnapshot(state.envSnapshot!);
      } catch (error) {
        if (!(error instanceof EnvError || error instanceof TypeError || error instanceof RangeError)) throw error;
        throw new DamagedFileError(loopFile, `its environment snapshot does not fit this run's env: ${error.message}`, { cause: error });
      }
    }
    const replayFile = join(checkpointDir, checkpointFiles.replay);
    if (state.replaySaved) {
      if (!existsSync(replayFile)) throw new DamagedFileError(replayFile, 'the file is missing, though the checkpoint saved the replay buffer');
      try {
        // A load that fails leaves the buffer as it was.
        await this.replay.load(replayFile);
      } catch (error) {
        if (error instanceof ReplayFileError) throw new DamagedFileError(replayFile, error.problem, { cause: error });
        throw error;
      }
    }
    this.agent.setState(agentState);
    this.counters = { ...state.counters };
    if (!state.replaySaved) this.counters.randomUntil = this.counters.agentStep + this.config.initSteps;
    this.rng = Rng.fromState(state.rng);
    this.wallTimeBase = state.wallTime;
    this.segmentStart = performance.now();
    this.window = { ...state.window };
    this.metricSums = structuredClone(state.metricSums);
    const rebuilt = this.log.resumeAt(state.metricsOffset, state.counters.agentStep);
    if (rebuilt) say(`curl-rl: warning: ${rebuilt}`);
    if (state.checkpointRecord) this.log.append(state.checkpointRecord);
    // A checkpoint from before the run wrote event files ({}) predates all of them.
    cutEventFiles(tensorBoardDir(this.runDir), state.tensorboardFiles ?? {});
    if (canContinueEpisode) {
      const frames = state.stackFrames!.map((f) => new Uint8Array(f));
      this.stacker.restoreFrames(frames);
      this.stacked = this.stacker.stack();
      this.needReset = false;
      // Saved without the replay buffer, the buffer is empty and has no episode to add this one's next steps to:
      // it starts one at the current frame (its stacks before that frame repeat it, as at any episode start).
      if (!state.replaySaved) this.replay.addReset(frames[frames.length - 1]!);
    } else {
      if (!state.needReset) {
        // The env cannot restore mid-episode state (e.g. a remote process): the partial episode ends here.
        this.counters.episode += 1;
      }
      this.needReset = true;
    }
  }

  /**
   * Restores the newest checkpoint that is intact, trying older ones when the
   * newest is damaged (and saying so). Damaged ones are set aside only once an
   * intact one has loaded, so a run whose checkpoints are all damaged is left
   * untouched. Null when the run has no checkpoint at all.
   */
  async restoreNewestIntact(say: (line: string) => void, options: RestoreOptions = {}): Promise<string | null> {
    const damaged: Array<{ dir: string; error: DamagedFileError }> = [];
    for (const dir of checkpointCandidates(this.runDir, { incomplete: true })) {
      try {
        await this.restore(dir, say, options);
      } catch (error) {
        if (!(error instanceof DamagedFileError)) throw error;
        damaged.push({ dir, error });
        say(`curl-rl: checkpoint ${basename(dir)} cannot be used: ${error.message}`);
        continue;
      }
      for (const bad of damaged) {
        const aside = setAsideDamaged(bad.dir);
        say(`curl-rl: fell back to ${basename(dir)}, the newest intact checkpoint` + (aside ? `; the damaged ${basename(bad.dir)} was moved to ${aside} for inspection.` : '.'));
      }
      return dir;
    }
    if (damaged.length > 0) {
      throw new NoIntactCheckpointError(
        `No intact checkpoint in ${this.runDir}: ${damaged.map((d) => `${basename(d.dir)} (${d.error.problem} in ${basename(d.error.file)})`).join('; ')}. ` +
          `Nothing was changed. To start the run over, move ${join(this.runDir, 'checkpoints')} away and resume again.`,
      );
    }
    return null;
  }

  async close(): Promise<void> {
    await this.env.close();
    if (this.evalEnv) await this.evalEnv.close();
    this.events.complete();
  }
}

/**
 * Worker threads beyond the cores only contend with each other (64 workers on
 * 2 cores ran an update 24x slower): keep at most one thread per core.
 */
export function capConvWorkers(requested: number, cores: number, say: (line: string) => void = () => {}): number {
  const most = Math.max(0, cores - 1);
  if (requested <= most) return requested;
  say(
    `curl-rl: --conv-workers ${requested} would run ${requested + 1} threads on ${cores} core${cores === 1 ? '' : 's'}; ` +
      `using ${most} worker${most === 1 ? '' : 's'} (one thread per core), since more threads than cores only slow each update down.`,
  );
  return most;
}

function crossed(before: number, after: number, every: number): boolean {
  return Math.floor(before / every) < Math.floor(after / every);
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export async function buildTrainer(config: Config, runDir: string, log: MetricsLog, say: (line: string) => void = () => {}): Promise<Trainer> {
  const env = await makeEnv(config.env, runEnvOptions(config, config.seed));
  try {
    return buildAround(env, config, runDir, log, say);
  } catch (error) {
    // The env may be a process: never leave it behind when the run cannot start.
    await Promise.resolve(env.close()).catch(() => undefined);
    throw error;
  }
}

function buildAround(env: Env, config: Config, runDir: string, log: MetricsLog, say: (line: string) => void): Trainer {
  const space = env.observationSpace;
  if (space.kind !== 'box' || space.dtype !== 'uint8' || space.shape.length !== 3 || space.shape[2] !== 3) {
    throw new ConfigError(
      `Environment '${config.env}' must produce uint8 RGB frames [H, W, 3]; it has ${JSON.stringify(space)}.`,
    );
  }
  if (space.shape[0] !== config.imageSize || space.shape[1] !== config.imageSize) {
    throw new ConfigError(
      `Environment '${config.env}' renders ${space.shape[0]}x${space.shape[1]} frames but --image-size is ${config.imageSize}; set --image-size ${space.shape[0]} (and --crop-size below it).`,
    );
  }
  const actionSpace = env.actionSpace;
  if (actionSpace.kind !== 'box') {
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
  const convWorkers = singleThreadedBackend(backend) || engine === 'libtorch'
    ? capConvWorkers(config.convWorkers ?? coreShareWorkers(), availableParallelism(), say)
    : 0;
  const agent = createAgent({ ...config, convWorkers, convEngine: engine }, { obsShape: [config.cropSize, config.cropSize, 3 * config.frameStack], actionDim }, config.seed);
  return new Trainer({ config, runDir, log, env, agent, replay, rng: new Rng(`loop-${config.seed}`) });
}

import { rmSync } from 'node:fs';
import { getBackend } from '@tensorflow/tfjs';
import { EMPTY, defer, expand, from, lastValueFrom, takeUntil, type Observable } from 'rxjs';
import { listEnvs, runnableEnvIds } from '../../envs/registry.js';
import { initBackend } from '../backend.js';
import { resolveConvEngine, resolvePrecision } from '../conv-engine.js';
import { checkRunFitsMachine } from '../config/limits.js';
import { kebab } from '../config/resolve.js';
import type { Config } from '../config/schema.js';
import { ConfigError, CurlRlError } from '../core/errors.js';
import { acquireRunLock, type HeldLock } from '../run/lock.js';
import { MetricsLog, type EvalRecord } from '../run/metrics.js';
import { RunDirError, describeFsError, makeRunDirs, newRunDirPath, readRunConfig, updateRunPlan, writeRunConfig } from '../run/run-dir.js';
import { writeStatus, type RunState } from '../run/status.js';
import { appendMachineRecord, describeMachine, type MachineRecord } from '../run/machine-log.js';
import { loadConvAddon } from '../../agents/native/addon.js';
import { cutEventFiles, tensorBoardDir } from '../run/tensorboard/event-files.js';
import { attachProgress } from './progress.js';
import { attachTensorBoard } from './tensorboard.js';
import { deriveStreams } from './streams.js';
import { Shutdown, signalExitCode, type StopReason } from './shutdown.js';
import { NonFiniteLossError } from './diverged.js';
import { RunFilesError, buildTrainer, type Trainer } from './trainer.js';

export interface TrainOptions {
  /** A new run with this config... */
  config?: Config;
  /** ...in this directory (default runs/<env>-<aux>-s<seed>-<time>). */
  runDir?: string;
  /** Or continue the run in this directory from its last checkpoint. */
  resume?: string;
  /** Config fields given on the command line with --resume (only those that keep the run's meaning are allowed). */
  resumeOverrides?: Partial<Config>;
  /** Listen to SIGINT, SIGTERM and SIGHUP (the CLI does; tests drive stops themselves). */
  signals?: boolean;
  progress?: 'auto' | 'tty' | 'plain' | 'none';
  log?: (line: string) => void;
  /** Test hook: called with the trainer and the shutdown controller before the loop starts. */
  onStart?: (trainer: Trainer, shutdown: Shutdown) => void;
}

export interface TrainOutcome {
  runDir: string;
  state: RunState;
  exitCode: number;
  reason?: string;
  agentStep: number;
  envStep: number;
  lastEval?: EvalRecord;
}

/**
 * What --resume may change. The plan: how far the run goes and how often it
 * evaluates, logs and checkpoints, which is bookkeeping, not what a step
 * computes; it is written to config.json, so a later plain --resume keeps it.
 */
export const resumePlanFields = ['steps', 'evalEvery', 'evalEpisodes', 'logEvery', 'checkpointEvery', 'keepCheckpoints'] as const;

/**
 * And how this process runs, for this process only (config.json keeps the
 * run's own): backend, convWorkers and convEngine change float rounding only;
 * precision changes the rounding of the encoder trunk, which bf16 keeps close to fp32
 * (test/agents/libtorch-bf16.test.ts and `npm run bench -- precision` bound the difference);
 * tensorboard only says whether this process writes event files.
 */
export const resumeSessionFields = ['backend', 'convWorkers', 'convEngine', 'precision', 'remoteTimeoutMs', 'remoteStartupTimeoutMs', 'tensorboard'] as const;

export const resumableFields = [...resumePlanFields, ...resumeSessionFields] as const;

export function applyResumeOverrides(stored: Config, overrides: Partial<Config>): Config {
  const refused = Object.entries(overrides).filter(
    ([key, value]) => !(resumableFields as readonly string[]).includes(key) && JSON.stringify(stored[key as keyof Config]) !== JSON.stringify(value),
  );
  if (refused.length > 0) {
    const list = refused.map(([key, value]) => `--${kebab(key)} ${JSON.stringify(value)} (run has ${JSON.stringify(stored[key as keyof Config])})`);
    throw new ConfigError(
      `Cannot change ${list.join(', ')} when resuming: it would change what the run means. ` +
        `Only ${resumableFields.map((f) => `--${kebab(f)}`).join(', ')} may change on --resume; start a new run for anything else.`,
    );
  }
  return { ...stored, ...overrides };
}

/** The plan fields `overrides` changes (those config.json is to record), or null when it changes none. */
function planChanges(stored: Config, overrides: Partial<Config>): Partial<Config> | null {
  const changed = resumePlanFields.filter((f) => f in overrides && JSON.stringify(overrides[f]) !== JSON.stringify(stored[f]));
  return changed.length > 0 ? Object.fromEntries(changed.map((f) => [f, overrides[f]])) : null;
}

/** A resumed run stays in its own directory: options that choose where a run lives are refused rather than ignored. */
function refuseRelocation(runDir: string, options: TrainOptions): void {
  if (options.runDir !== undefined) {
    throw new ConfigError(`--run-dir cannot be combined with --resume: a resumed run stays in ${runDir}; to start a new run in ${options.runDir}, leave out --resume.`);
  }
  if (options.resumeOverrides && 'runsDir' in options.resumeOverrides) {
    throw new ConfigError(`--runs-dir cannot be combined with --resume: a resumed run stays in ${runDir} (--runs-dir only chooses where new runs go).`);
  }
}

function exitCodeFor(reason: StopReason): number {
  if (reason.kind === 'finished') return 0;
  if (reason.kind === 'signal') return signalExitCode(reason.signal);
  return reason.error instanceof CurlRlError ? reason.error.exitCode : 1;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * The training loop: one agent step at a time, in order (`expand` starts the
 * next step only when the previous one has finished), until the step limit, a
 * signal or a fatal error. Every way out writes a final checkpoint except a
 * non-finite loss, whose weights are not worth keeping, and a failure to write
 * the run's own files, after which a checkpoint could disagree with the
 * metrics log (the last periodic checkpoint predates either).
 *
 * Everything that is checked (config, machine limits, backend, the run
 * directory and its lock) is checked before anything is created; every
 * resource taken afterwards (lock, env processes, conv worker threads, signal
 * handlers) is released on every way out, so the process ends by itself.
 */
export async function train(options: TrainOptions): Promise<TrainOutcome> {
  const say = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let config: Config;
  let plan: Partial<Config> | null = null;
  if (options.resume) {
    refuseRelocation(options.resume, options);
    const stored = readRunConfig(options.resume);
    config = applyResumeOverrides(stored.config, options.resumeOverrides ?? {});
    plan = planChanges(stored.config, options.resumeOverrides ?? {});
  } else {
    if (!options.config) throw new ConfigError('train() needs a config or a run directory to resume.');
    config = options.config;
  }
  const runnable = runnableEnvIds();
  if (!runnable.includes(config.env)) {
    throw new ConfigError(`--env (env) = ${JSON.stringify(config.env)} is not a registered environment; allowed: ${runnable.join(', ')}`);
  }
  const known = listEnvs();
  const backend = await initBackend(config.backend, { log: say });
  checkRunFitsMachine(config, { backend: backend.name, actionDim: known.find((e) => e.id === config.env)?.actionDim });
  // before the run directory exists: asking for an engine that is not built is exit 3 with nothing left behind
  const engine = resolveConvEngine(config.convEngine, backend.name);
  say(`conv engine: ${engine.engine} (${engine.requested === 'auto' ? `auto; ${engine.reason}` : engine.reason})`);
  const precision = resolvePrecision(config.precision, engine.engine);
  say(`precision: ${precision.precision} (${precision.requested === 'auto' ? `auto; ${precision.reason}` : precision.reason})`);
  if (precision.warning) say(`warning: ${precision.warning}`);
  say(`heads: ${engine.engine} (the Q and actor MLPs, Adam and the target EMA; fp32 at every precision)`);

  const runDir = options.resume ?? newRunDirPath(config, options.runDir);
  if (!options.resume) makeRunDirs(runDir);
  let lock: HeldLock;
  try {
    lock = acquireRunLock(runDir, say);
  } catch (error) {
    if (error instanceof CurlRlError) throw error;
    throw new RunDirError(`Cannot use the run directory ${runDir}: ${describeFsError(error)}.`);
  }
  let trainer: Trainer | undefined;
  let created = false;
  let started = false;
  try {
    if (!options.resume) {
      writeRunConfig(runDir, config, backend.name);
      created = true;
    }
    say(`run directory: ${runDir}`);
    const log = new MetricsLog(runDir);
    trainer = await buildTrainer(config, runDir, log, say);
    started = true;
    return await runLoop(trainer, log, runDir, config, options, say, plan);
  } catch (error) {
    if (error instanceof Error && 'code' in error && 'syscall' in error && !(error instanceof CurlRlError)) {
      throw new RunFilesError(`The run's files could not be written or read: ${error.message} (${describeFsError(error)}).`, { cause: error });
    }
    throw error;
  } finally {
    if (trainer) {
      await trainer.close().catch(() => undefined);
      trainer.agent.dispose();
    }
    lock.release();
    // A new run that could not even start (bad env, mismatched image size) leaves no directory behind.
    if (created && !started) rmSync(runDir, { recursive: true, force: true });
  }
}

function machineRecord(trainer: Trainer): MachineRecord {
  const { engine, threads, precision } = trainer.agent.convEngine;
  const addon = engine === 'libtorch' ? loadConvAddon() : undefined;
  return describeMachine({
    fromAgentStep: trainer.agentStep,
    backend: getBackend(),
    convEngine: engine,
    ...(addon?.available ? { libtorch: addon.info.torchVersion } : {}),
    precision,
    threads,
  });
}

/** `plan`: the plan fields a resume changes, written to config.json once the checkpoint has loaded (a refused resume changes nothing). */
async function runLoop(
  trainer: Trainer, log: MetricsLog, runDir: string, config: Config, options: TrainOptions, say: (line: string) => void, plan: Partial<Config> | null,
): Promise<TrainOutcome> {
  const { engine: convEngine, threads } = trainer.agent.convEngine;
  if (threads > 1) {
    const workers = threads - 1;
    say(convEngine === 'libtorch'
      ? `conv passes of each update on ${threads} libtorch threads (--conv-workers ${workers})`
      : `conv passes of each update split over ${threads} threads: this one and ${workers} worker${workers === 1 ? '' : 's'} (--conv-workers ${workers})`);
  }
  const streams = deriveStreams(trainer.events);
  // Synchronous append: a step's records are on disk before its checkpoint notes the log's length. A write that fails
  // stops the run through the trainer (see Trainer.sinkFailed), not as an error lost inside an rxjs subscriber.
  const logSubscription = streams.records$.subscribe(trainer.guard('metrics.jsonl', (record) => log.append(record)));
  // status.json follows the run at every checkpoint, so a sweep or a person sees how far a long run is.
  logSubscription.add(
    streams.checkpoints$.subscribe(
      trainer.guard('status.json', (r) => writeStatus(runDir, { state: 'running', agentStep: r.agentStep, envStep: r.envStep, wallClockSeconds: r.wallTime })),
    ),
  );
  const shutdown = new Shutdown({ signals: options.signals ?? false, log: say });
  try {
    let checkpoint: string | null = null;
    if (options.resume) {
      checkpoint = await trainer.restoreNewestIntact(say, { stepsGiven: options.resumeOverrides?.steps !== undefined });
      if (checkpoint) {
        log.append({ type: 'resume', agentStep: trainer.agentStep, envStep: trainer.envStep, wallTime: trainer.wallTime(), checkpoint });
        say(`resumed from ${checkpoint} at env step ${trainer.envStep} (agent step ${trainer.agentStep})`);
        if (trainer.finished) say(`the run has already trained its ${config.steps} environment steps; pass --steps above ${trainer.envStep} to train it further.`);
      } else {
        say(`no checkpoint in ${runDir}: starting the run from the beginning`);
        log.truncateTo(0);
        cutEventFiles(tensorBoardDir(runDir), {});
      }
      if (plan) {
        updateRunPlan(runDir, plan);
        say(`config.json now plans ${Object.entries(plan).map(([k, v]) => `--${kebab(k)} ${JSON.stringify(v)}`).join(', ')} for this run`);
      }
    }
    if (config.tensorboard) logSubscription.add(attachTensorBoard(streams, trainer, config, { resumed: checkpoint !== null, say }));

    const mode = options.progress === 'auto' || options.progress === undefined ? (process.stdout.isTTY ? 'tty' : 'plain') : options.progress;
    const progressSubscription = attachProgress(streams, { totalEnvSteps: config.steps, startEnvStep: trainer.envStep, mode, initAgentSteps: trainer.randomUntil, actionRepeat: config.actionRepeat });
    writeStatus(runDir, { state: 'running', agentStep: trainer.agentStep, envStep: trainer.envStep, wallClockSeconds: trainer.wallTime() });
    appendMachineRecord(runDir, machineRecord(trainer));
    options.onStart?.(trainer, shutdown);

    const stepsBefore = trainer.agentStep;
    let inFlight: Promise<void> = Promise.resolve();
    const runStep = (): Observable<void> =>
      defer(() => {
        inFlight = trainer.stepOnce();
        return from(inFlight);
      });
    const next = (): Observable<void> => {
      if (trainer.finished) shutdown.request({ kind: 'finished' });
      return shutdown.requested ? EMPTY : runStep();
    };
    try {
      if (!checkpoint && trainer.envStep === 0 && !trainer.finished) await trainer.evaluate();
      await lastValueFrom(next().pipe(expand(next), takeUntil(shutdown.shutdown$)), { defaultValue: undefined });
    } catch (error) {
      shutdown.request({ kind: 'error', error: asError(error) });
    }
    // takeUntil lets go of a step still running when a signal arrives: let it finish before checkpointing.
    try {
      await inFlight;
    } catch (error) {
      if (!shutdown.reason || shutdown.reason.kind !== 'error') shutdown.reason = { kind: 'error', error: asError(error) };
    }
    if (trainer.finished && !shutdown.reason) shutdown.request({ kind: 'finished' });
    const reason: StopReason = shutdown.reason ?? { kind: 'finished' };
    // The bar must be gone before the closing lines, or the first of them lands on the bar's line.
    progressSubscription.unsubscribe();

    let lastEval: EvalRecord | undefined;
    for (const record of log.records()) if (record.type === 'eval') lastEval = record;
    let reasonText: string | undefined;
    if (reason.kind === 'error') reasonText = reason.error.message;
    if (reason.kind === 'signal') reasonText = `stopped by ${reason.signal}`;
    const error = reason.kind === 'error' ? reason.error : undefined;
    const nothingNew = checkpoint !== null && trainer.agentStep === stepsBefore;
    if (error instanceof NonFiniteLossError || error instanceof RunFilesError) {
      say(`curl-rl: no final checkpoint: ${error instanceof RunFilesError ? "the run's files could not all be written, and" : 'the weights are damaged, so'} the last periodic checkpoint is kept as it is.`);
    } else if (!nothingNew) {
      try {
        const path = await trainer.checkpoint(reason.kind === 'finished' ? 'final' : reason.kind === 'signal' ? reason.signal : 'error');
        say(`checkpoint: ${path}`);
      } catch (failure) {
        say(`curl-rl: the final checkpoint could not be written (${describeFsError(failure)}); the last periodic checkpoint is intact.`);
      }
    }
    const state: RunState = reason.kind === 'finished' ? 'finished' : reason.kind === 'signal' ? 'interrupted' : 'failed';
    try {
      writeStatus(runDir, { state, agentStep: trainer.agentStep, envStep: trainer.envStep, reason: reasonText, wallClockSeconds: trainer.wallTime() });
    } catch (failure) {
      say(`curl-rl: ${runDir}/status.json could not be updated to '${state}' (${describeFsError(failure)}); it may still say 'running'.`);
    }
    say(`run ${state}: ${runDir}`);
    if (lastEval && reason.kind === 'finished') {
      const which = lastEval.envStep === trainer.envStep ? 'final eval' : 'last eval';
      say(`${which} at env step ${lastEval.envStep}: return ${lastEval.mean.toFixed(1)} ± ${lastEval.std.toFixed(1)}${lastEval.returns ? ` over ${lastEval.returns.length} episodes` : ''}`);
    }
    if (error) say(`curl-rl: run failed: ${error.message}`);
    if (reason.kind === 'signal') say(`run interrupted; continue it with: npx curl-rl train --resume ${runDir}`);
    return { runDir, state, exitCode: exitCodeFor(reason), reason: reasonText, agentStep: trainer.agentStep, envStep: trainer.envStep, lastEval };
  } finally {
    logSubscription.unsubscribe();
    shutdown.dispose();
  }
}

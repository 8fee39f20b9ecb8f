import { rmSync } from 'node:fs';
import { EMPTY, defer, expand, from, lastValueFrom, takeUntil, type Observable } from 'rxjs';
import { listEnvs } from '../../envs/registry.js';
import { initBackend } from '../backend.js';
import { resolveConvEngine } from '../conv-engine.js';
import { kebab } from '../config/resolve.js';
import type { Config } from '../config/schema.js';
import { ConfigError, CurlRlError } from '../errors.js';
import { createRunDir, readRunConfig, writeStatus, type RunState } from '../run/run-dir.js';
import { MetricsLog, type EvalRecord } from '../run/metrics.js';
import { latestCheckpoint } from './checkpoint.js';
import { attachProgress } from './progress.js';
import { deriveStreams } from './streams.js';
import { Shutdown, type StopReason } from './shutdown.js';
import { NonFiniteLossError, buildTrainer, type Trainer } from './trainer.js';

export interface TrainOptions {
  /** A new run with this config... */
  config?: Config;
  /** ...in this directory (default runs/<env>-<aux>-s<seed>-<time>). */
  runDir?: string;
  /** Or continue the run in this directory from its last checkpoint. */
  resume?: string;
  /** Config fields given on the command line with --resume (only those that keep the run's meaning are allowed). */
  resumeOverrides?: Partial<Config>;
  /** Listen to SIGINT/SIGTERM (the CLI does; tests drive stops themselves). */
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
 * Fields that may change on resume: they affect bookkeeping or speed, not what
 * the run computes (backend, convWorkers and convEngine change float rounding only).
 */
export const resumableFields = [
  'steps', 'evalEvery', 'evalEpisodes', 'logEvery', 'checkpointEvery', 'keepCheckpoints', 'backend', 'remoteTimeoutMs', 'runsDir', 'convWorkers', 'convEngine',
] as const;

export function applyResumeOverrides(stored: Config, overrides: Partial<Config>): Config {
  const refused = Object.entries(overrides).filter(
    ([key, value]) => !(resumableFields as readonly string[]).includes(key) && JSON.stringify(stored[key as keyof Config]) !== JSON.stringify(value),
  );
  if (refused.length > 0) {
    const list = refused.map(([key, value]) => `--${kebab(key)} ${JSON.stringify(value)} (run has ${JSON.stringify(stored[key as keyof Config])})`);
    throw new ConfigError(
      `Cannot change ${list.join(', ')} when resuming: it would change what the run means. ` +
        `Only ${resumableFields.join(', ')} may change on --resume; start a new run for anything else.`,
    );
  }
  return { ...stored, ...overrides };
}

function exitCodeFor(reason: StopReason): number {
  if (reason.kind === 'finished') return 0;
  if (reason.kind === 'signal') return reason.signal === 'SIGINT' ? 130 : 143;
  return reason.error instanceof CurlRlError ? reason.error.exitCode : 1;
}

/**
 * The training loop: one agent step at a time, in order (`expand` starts the
 * next step only when the previous one has finished), until the step limit, a
 * signal or a fatal error. Every way out writes a final checkpoint except a
 * non-finite loss, whose weights are not worth keeping (the last periodic
 * checkpoint predates it).
 */
export async function train(options: TrainOptions): Promise<TrainOutcome> {
  const say = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let config: Config;
  let runDir: string;
  if (options.resume) {
    const stored = readRunConfig(options.resume);
    config = applyResumeOverrides(stored.config, options.resumeOverrides ?? {});
    runDir = options.resume;
  } else {
    if (!options.config) throw new ConfigError('train() needs a config or a run directory to resume.');
    config = options.config;
    runDir = '';
  }
  const known = listEnvs().map((e) => e.id);
  if (config.env !== 'remote' && !known.includes(config.env)) {
    throw new ConfigError(`--env (env) = ${JSON.stringify(config.env)} is not a registered environment; allowed: ${[...known, 'remote'].join(', ')}`);
  }
  const backend = await initBackend(config.backend, { log: say });
  // before the run directory exists: asking for an engine that is not built is exit 3 with nothing left behind
  const engine = resolveConvEngine(config.convEngine, backend.name);
  say(`conv engine: ${engine.engine} (${engine.requested === 'auto' ? `auto; ${engine.reason}` : engine.reason})`);
  if (!options.resume) runDir = createRunDir(config, backend.name, options.runDir);
  say(`run directory: ${runDir}`);

  const log = new MetricsLog(runDir);
  let trainer: Trainer;
  try {
    trainer = await buildTrainer(config, runDir, log);
  } catch (error) {
    // A new run that could not even start (bad env, mismatched image size) leaves no directory behind.
    if (!options.resume) rmSync(runDir, { recursive: true, force: true });
    throw error;
  }
  const { engine: convEngine, threads } = trainer.agent.convEngine;
  if (threads > 1) {
    say(convEngine === 'libtorch'
      ? `conv passes on ${threads} libtorch threads (--conv-workers ${threads - 1} extra)`
      : `conv passes split by rows over ${threads} threads: this one and ${threads - 1} worker thread(s) (--conv-workers ${threads - 1})`);
  }
  const streams = deriveStreams(trainer.events);
  // Synchronous append: a step's records are on disk before its checkpoint notes the log's length.
  const logSubscription = streams.records$.subscribe((record) => log.append(record));
  // status.json follows the run at every checkpoint, so a sweep or a person sees how far a long run is.
  logSubscription.add(
    streams.checkpoints$.subscribe((r) => writeStatus(runDir, { state: 'running', agentStep: r.agentStep, envStep: r.envStep, wallClockSeconds: r.wallTime })),
  );
  const checkpoint = options.resume ? latestCheckpoint(runDir) : null;
  if (checkpoint) {
    await trainer.restore(checkpoint);
    log.append({ type: 'resume', agentStep: trainer.agentStep, envStep: trainer.envStep, wallTime: trainer.wallTime(), checkpoint });
    say(`resumed from ${checkpoint} at env step ${trainer.envStep} (agent step ${trainer.agentStep})`);
  } else if (options.resume) {
    say(`no checkpoint in ${runDir}: starting the run from the beginning`);
    log.truncateTo(0);
  }

  const shutdown = new Shutdown({ signals: options.signals ?? false, log: say });
  const mode = options.progress === 'auto' || options.progress === undefined ? (process.stdout.isTTY ? 'tty' : 'plain') : options.progress;
  const progressSubscription = attachProgress(streams, { totalEnvSteps: config.steps, startEnvStep: trainer.envStep, mode });
  writeStatus(runDir, { state: 'running', agentStep: trainer.agentStep, envStep: trainer.envStep, wallClockSeconds: trainer.wallTime() });
  options.onStart?.(trainer, shutdown);

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
    shutdown.request({ kind: 'error', error: error instanceof Error ? error : new Error(String(error)) });
  }
  // takeUntil lets go of a step still running when a signal arrives: let it finish before checkpointing.
  try {
    await inFlight;
  } catch (error) {
    if (!shutdown.reason || shutdown.reason.kind !== 'error') {
      shutdown.reason = { kind: 'error', error: error instanceof Error ? error : new Error(String(error)) };
    }
  }
  if (trainer.finished && !shutdown.reason) shutdown.request({ kind: 'finished' });
  const reason: StopReason = shutdown.reason ?? { kind: 'finished' };

  let lastEval: EvalRecord | undefined;
  for (const record of log.records()) if (record.type === 'eval') lastEval = record;
  let reasonText: string | undefined;
  if (reason.kind === 'error') reasonText = reason.error.message;
  if (reason.kind === 'signal') reasonText = `stopped by ${reason.signal}`;
  const keepWeights = !(reason.kind === 'error' && reason.error instanceof NonFiniteLossError);
  if (keepWeights) {
    try {
      const path = await trainer.checkpoint(reason.kind === 'finished' ? 'final' : reason.kind === 'signal' ? reason.signal : 'error');
      say(`checkpoint: ${path}`);
    } catch (error) {
      say(`curl-rl: the final checkpoint could not be written: ${(error as Error).message}`);
    }
  }
  const state: RunState = reason.kind === 'finished' ? 'finished' : reason.kind === 'signal' ? 'interrupted' : 'failed';
  writeStatus(runDir, { state, agentStep: trainer.agentStep, envStep: trainer.envStep, reason: reasonText, wallClockSeconds: trainer.wallTime() });
  progressSubscription.unsubscribe();
  logSubscription.unsubscribe();
  await trainer.close().catch(() => undefined);
  trainer.agent.dispose();
  shutdown.dispose();
  say(`run ${state}: ${runDir}`);
  if (lastEval && reason.kind === 'finished') {
    say(`final eval at env step ${lastEval.envStep}: return ${lastEval.mean.toFixed(1)} ± ${lastEval.std.toFixed(1)} over ${lastEval.returns.length} episodes`);
  }
  if (reason.kind === 'error') say(`curl-rl: run failed: ${reason.error.message}`);
  if (reason.kind === 'signal') say(`run interrupted; continue it with: npx curl-rl train --resume ${runDir}`);
  return { runDir, state, exitCode: exitCodeFor(reason), reason: reasonText, agentStep: trainer.agentStep, envStep: trainer.envStep, lastEval };
}

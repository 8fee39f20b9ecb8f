/*
 * Runs a sweep's runs as child processes with a bounded pool. Decisions are
 * made from what is on disk, so the same command continues a sweep across
 * sessions: finished runs are skipped, runs with a checkpoint are resumed,
 * the rest start from scratch. A failed run is recorded and the sweep goes on.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, freemem } from 'node:os';
import { join } from 'node:path';
import { hasCheckpoint, readStatus, type RunState } from '../report/run-files.js';
import { coreShareWorkers } from '../../agents/tower/defaults.js';
import { ConfigError } from '../../src/core/errors.js';
import { acquireLock, runLockHolder } from '../../src/run/lock.js';
import { signalOfExitCode, stopSignals } from '../../src/loop/shutdown.js';
import { processSpawner, type TrainProcessResult, type TrainSpawner } from './spawner.js';
import { freshTrainArgs, resumeTrainArgs, runDirProblem, type RunSpec, type Sweep } from './spec.js';

export type RunAction = 'skip' | 'resume' | 'fresh';

export interface RunOutcome {
  id: string;
  dir: string;
  env: string;
  variant: string;
  aux: string;
  seed: number;
  preset?: string;
  /**
   * What this invocation did with the run ('pending' until it is started,
   * 'cancelled' if the sweep stopped first, 'unselected' when `--only` left it out).
   */
  action: 'skipped' | 'resumed' | 'started' | 'pending' | 'cancelled' | 'unselected';
  state: RunState | 'pending';
  exitCode: number | null;
  signal: string | null;
  reason?: string;
  /** Training wall clock from status.json (cumulative over resumes). */
  wallClockSeconds?: number;
  /** Seconds the process of this invocation ran. */
  processSeconds?: number;
  envStep?: number;
  log: string;
  startedAt?: string;
  endedAt?: string;
}

export interface SweepSession {
  startedAt: string;
  endedAt?: string;
  elapsedSeconds?: number;
  parallel: number;
}

export interface SweepIndex {
  name: string;
  dir: string;
  sweepFile?: string;
  parallel: number;
  updatedAt: string;
  /** Every invocation of the sweep, oldest first; their elapsed times add up to the sweep's wall clock. */
  sessions: SweepSession[];
  elapsedSeconds: number;
  counts: Partial<Record<RunOutcome['state'], number>>;
  runs: RunOutcome[];
}

export type SweepEvent =
  | { type: 'skip'; run: RunSpec; outcome: RunOutcome }
  | { type: 'start'; run: RunSpec; action: 'resume' | 'fresh'; args: string[] }
  | { type: 'end'; run: RunSpec; outcome: RunOutcome };

export interface RunSweepOptions {
  parallel?: number;
  spawn?: TrainSpawner;
  /** Stops launching new runs and asks running ones to stop (they checkpoint). */
  signal?: AbortSignal;
  onEvent?: (event: SweepEvent) => void;
  /** Recorded in index.json. */
  sweepFile?: string;
  /** Run ids to run (`sweep --only`); the others keep their earlier index entry. Default: every run. */
  only?: ReadonlySet<string>;
  /**
   * Awaited for each selected run that is finished (now, or earlier and
   * skipped) before the worker takes its next run, so its work (a probe, an
   * export) does not share the cores with a train. It handles its own errors.
   */
  afterFinished?: (run: RunSpec) => Promise<void>;
}

const gib = 1024 ** 3;
/** A wasm training process is single-threaded and was measured at 1-4 GB resident; plan for 3. */
const bytesPerRun = 3 * gib;

/** One run per core, as long as free memory (less 1 GiB for the system) holds one run each. */
export function defaultParallelism(cores = availableParallelism(), freeBytes = freemem()): number {
  const byMemory = Math.floor((freeBytes - gib) / bytesPerRun);
  return Math.max(1, Math.min(cores, byMemory));
}

/**
 * Runs side by side share the cores: unless the sweep file sets convWorkers,
 * each run gets its share (on 2 cores with 2 runs at a time: no extra workers).
 * The native backends ignore it (they thread by themselves).
 */
export function convWorkerArgs(run: RunSpec, parallel: number, cores = availableParallelism()): string[] {
  if ('convWorkers' in run.overrides) return [];
  return ['--conv-workers', String(coreShareWorkers(parallel, cores))];
}

export function planRun(run: RunSpec): RunAction {
  if (readStatus(run.dir)?.state === 'finished') return 'skip';
  return hasCheckpoint(run.dir) ? 'resume' : 'fresh';
}

/** Another live process is running the same sweep. Exit code 2, as for a run in use: nothing was started. */
export class SweepLockedError extends ConfigError {}

/** A run directory that a live process is training: the sweep neither starts a second writer in it nor moves it. Exit code 2, as for train's busy run. */
export class RunInUseError extends ConfigError {}

/**
 * One sweep process per sweep folder: two would start the same runs twice.
 * The run lock's implementation (src/run/lock.ts): a lock left by a process
 * that no longer exists is taken over. Returns the release.
 */
export function lockSweep(sweep: Sweep): () => void {
  const path = join(sweep.dir, 'sweep.lock');
  mkdirSync(sweep.dir, { recursive: true });
  const lock = acquireLock(path, {
    error: SweepLockedError,
    foreign: () =>
      `${path} is not a lock this program wrote, so sweep '${sweep.name}' may be running. If no curl-rl sweep process is running it, delete ${path} and try again.`,
    busy: (holder, otherHost) =>
      `Sweep '${sweep.name}' is already running in process ${holder.pid}${otherHost ? ` on host ${holder.host}` : ''} (since ${holder.since}; lock ${path}). ` +
      `Two sweep processes would start the same runs twice. Wait for it, or stop it first (kill -INT ${holder.pid}).` +
      (otherHost ? ` If that process is gone, delete ${path}.` : ''),
  });
  return lock.release;
}

export function indexPath(sweep: Sweep): string {
  return join(sweep.dir, 'index.json');
}

export function readIndex(sweep: Sweep): SweepIndex | undefined {
  const path = indexPath(sweep);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as SweepIndex;
  } catch {
    return undefined;
  }
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').filter((l) => l.trim() !== '').slice(-n).join('\n');
}

/** Reads the outcome of a run from its exit and its status.json. */
export function judgeOutcome(run: RunSpec, result: TrainProcessResult): Pick<RunOutcome, 'state' | 'reason' | 'wallClockSeconds' | 'envStep'> {
  const status = readStatus(run.dir);
  const base: Pick<RunOutcome, 'wallClockSeconds' | 'envStep'> = {};
  if (status?.wallClockSeconds !== undefined) base.wallClockSeconds = status.wallClockSeconds;
  if (status !== undefined) base.envStep = status.envStep;
  if (result.spawnError !== undefined) return { ...base, state: 'failed', reason: `could not start train: ${result.spawnError}` };
  // A train stopped by a stop signal checkpoints and exits 128 + its number; one the signal ended outright resumes from its last checkpoint.
  const stoppedBy = signalOfExitCode(result.exitCode) ?? stopSignals.find((s) => s === result.signal);
  if (stoppedBy !== undefined) return { ...base, state: 'interrupted', reason: `stopped by ${stoppedBy}` };
  if (result.exitCode === 0) {
    if (status?.state === 'finished') return { ...base, state: 'finished' };
    const said = status === undefined ? 'wrote no readable status.json' : `left status.json in state '${status.state}'`;
    return { ...base, state: 'failed', reason: `train exited 0 but ${said}` };
  }
  const how = result.exitCode !== null ? `exit code ${result.exitCode}${result.exitCode === 2 ? ' (bad config)' : ''}` : `killed by ${result.signal}`;
  const detail = status?.state === 'failed' && status.reason ? status.reason : lastLines(result.outputTail, 5);
  return { ...base, state: 'failed', reason: detail ? `${how}: ${detail}` : how };
}

/**
 * A run that never checkpointed has nothing to resume; keep its files for
 * inspection out of the report's way. A run whose lock a live process holds
 * (a train left running by a sweep that was killed) is being written: it is
 * not moved, and neither is a folder outside the sweep's (expansion and the
 * Slurm task refuse such runs already; this is the last line before a rename).
 */
export function moveAsideStale(sweepDir: string, run: RunSpec): void {
  const outside = runDirProblem(sweepDir, run);
  if (outside !== null) throw new ConfigError(`The sweep does not move run ${JSON.stringify(run.id)}: ${outside}.`);
  if (!existsSync(run.dir) || readdirSync(run.dir).length === 0) return;
  const holder = runLockHolder(run.dir);
  if (holder !== null) {
    throw new RunInUseError(
      `${run.dir} is being trained by process ${holder.pid} (since ${holder.since}: ${holder.command}), so it was left in place. ` +
        'Run the sweep again once that process has ended (or stop it with kill -INT).',
    );
  }
  const attempts = join(sweepDir, '.attempts');
  mkdirSync(attempts, { recursive: true });
  renameSync(run.dir, join(attempts, `${run.id}-${new Date().toISOString().replace(/[:.]/g, '-')}`));
}

function countStates(runs: RunOutcome[]): SweepIndex['counts'] {
  const counts: SweepIndex['counts'] = {};
  for (const r of runs) counts[r.state] = (counts[r.state] ?? 0) + 1;
  return counts;
}

export async function runSweep(sweep: Sweep, options: RunSweepOptions = {}): Promise<SweepIndex> {
  const parallel = options.parallel ?? defaultParallelism();
  if (!Number.isInteger(parallel) || parallel < 1) throw new RangeError(`parallel must be a positive integer, got ${parallel}`);
  const spawnTrain = options.spawn ?? processSpawner();
  const signal = options.signal ?? new AbortController().signal;
  const unlock = lockSweep(sweep);
  try {
    return await runLocked(sweep, parallel, spawnTrain, signal, options);
  } finally {
    unlock();
  }
}

async function runLocked(sweep: Sweep, parallel: number, spawnTrain: TrainSpawner, signal: AbortSignal, options: RunSweepOptions): Promise<SweepIndex> {
  const before = readIndex(sweep);
  const previous = new Map((before?.runs ?? []).map((r) => [r.id, r]));
  const t0 = performance.now();
  const session: SweepSession = { startedAt: new Date().toISOString(), parallel };
  const sessions = [...(before?.sessions ?? []), session];

  const outcomes: RunOutcome[] = sweep.runs.map((run) => {
    const outcome: RunOutcome = {
      id: run.id, dir: run.dir, env: run.env, variant: run.variant, aux: run.aux, seed: run.seed,
      action: 'pending', state: 'pending', exitCode: null, signal: null,
      log: join(sweep.dir, 'logs', `${run.id}.log`),
    };
    if (run.preset !== undefined) outcome.preset = run.preset;
    return outcome;
  });
  const writeIndex = (): SweepIndex => {
    session.endedAt = new Date().toISOString();
    session.elapsedSeconds = Math.round(performance.now() - t0) / 1000;
    const index: SweepIndex = {
      name: sweep.name, dir: sweep.dir, parallel, updatedAt: session.endedAt,
      sessions, elapsedSeconds: Math.round(sessions.reduce((a, x) => a + (x.elapsedSeconds ?? 0), 0) * 1000) / 1000,
      counts: countStates(outcomes), runs: outcomes,
    };
    if (options.sweepFile !== undefined) index.sweepFile = options.sweepFile;
    // Write then rename, so a reader (or a crash) never sees half an index.
    const path = indexPath(sweep);
    writeFileSync(`${path}.tmp`, `${JSON.stringify(index, null, 2)}\n`);
    renameSync(`${path}.tmp`, path);
    return index;
  };

  const queue: number[] = [];
  sweep.runs.forEach((run, i) => {
    const outcome = outcomes[i]!;
    if (options.only !== undefined && !options.only.has(run.id)) {
      // Not this invocation's run: keep what the index said of it, with its state as its folder has it now.
      Object.assign(outcome, previous.get(run.id) ?? {}, { action: 'unselected' });
      const status = readStatus(run.dir);
      if (status !== undefined) Object.assign(outcome, { state: status.state, envStep: status.envStep });
      return;
    }
    if (planRun(run) !== 'skip') {
      queue.push(i);
      return;
    }
    const status = readStatus(run.dir);
    const earlier = previous.get(run.id);
    Object.assign(outcome, { action: 'skipped', state: 'finished', exitCode: earlier?.exitCode ?? 0, signal: null });
    if (status?.wallClockSeconds !== undefined) outcome.wallClockSeconds = status.wallClockSeconds;
    if (status !== undefined) outcome.envStep = status.envStep;
    if (earlier?.processSeconds !== undefined) outcome.processSeconds = earlier.processSeconds;
    options.onEvent?.({ type: 'skip', run, outcome });
  });
  writeIndex();
  if (options.afterFinished !== undefined) {
    for (const [i, run] of sweep.runs.entries()) {
      if (outcomes[i]!.action === 'skipped' && !signal.aborted) await options.afterFinished(run);
    }
  }

  const runOne = async (i: number): Promise<void> => {
    const run = sweep.runs[i]!;
    const outcome = outcomes[i]!;
    // Re-plan at launch time: another sweep process may have advanced the run meanwhile.
    const action = planRun(run);
    if (action === 'skip') {
      Object.assign(outcome, { action: 'skipped', state: 'finished', exitCode: 0 });
      return;
    }
    if (action === 'fresh') moveAsideStale(sweep.dir, run);
    const args = [...(action === 'resume' ? resumeTrainArgs(run) : freshTrainArgs(run)), ...convWorkerArgs(run, parallel)];
    outcome.action = action === 'resume' ? 'resumed' : 'started';
    outcome.state = 'running';
    outcome.startedAt = new Date().toISOString();
    delete outcome.reason;
    writeIndex();
    options.onEvent?.({ type: 'start', run, action, args });
    const t0 = performance.now();
    let result: TrainProcessResult;
    try {
      result = await spawnTrain({ run, args, logPath: outcome.log, signal });
    } catch (error) {
      result = { exitCode: null, signal: null, outputTail: '', spawnError: (error as Error).message };
    }
    outcome.processSeconds = Math.round((performance.now() - t0) / 10) / 100;
    outcome.endedAt = new Date().toISOString();
    outcome.exitCode = result.exitCode;
    outcome.signal = result.signal;
    Object.assign(outcome, judgeOutcome(run, result));
    writeIndex();
    options.onEvent?.({ type: 'end', run, outcome });
    if ((outcome.state as RunOutcome['state']) === 'finished' && options.afterFinished !== undefined && !signal.aborted) await options.afterFinished(run);
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (!signal.aborted && next < queue.length) {
      const i = queue[next++]!;
      try {
        await runOne(i);
      } catch (error) {
        // E.g. the run folder could not be moved aside: record it, and go on with the others.
        Object.assign(outcomes[i]!, { state: 'failed', reason: `the sweep could not launch this run: ${(error as Error).message}` });
        writeIndex();
        options.onEvent?.({ type: 'end', run: sweep.runs[i]!, outcome: outcomes[i]! });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, Math.max(queue.length, 1)) }, worker));
  for (const outcome of outcomes) if (outcome.action === 'pending') outcome.action = 'cancelled';
  return writeIndex();
}

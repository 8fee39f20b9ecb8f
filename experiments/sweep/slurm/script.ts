/*
 * The sbatch script of a sweep: one job array, one array task per run. Slurm
 * does the scheduling (the %K throttle), the retries (--requeue, and the
 * task's own requeue after the time-limit warning) and the accounting; the
 * script only names the resources and starts `curl-rl sweep task`, which
 * looks its run up by SLURM_ARRAY_TASK_ID.
 */
import { ConfigError } from '../../../src/core/errors.js';
import { controlCharacter } from '../../../src/run/run-dir.js';

export interface SlurmOptions {
  partition?: string;
  /** Slurm time limit as sbatch takes it (HH:MM:SS, MM, D-HH:MM, ...). */
  time?: string;
  cpusPerTask: number;
  gpusPerTask?: number;
  /** Array tasks running at once (the `%K` of --array). */
  maxConcurrent?: number;
  /** Seconds before the time limit at which Slurm sends SIGTERM, so the run checkpoints in time. */
  signalSeconds: number;
  /** Let Slurm requeue tasks (preemption, node failure) and requeue a task stopped by the time-limit warning. */
  requeue: boolean;
  /** Extra sbatch options, each one `--name=value` token, written as #SBATCH lines after ours (so they win). */
  sbatchArgs: string[];
}

export const defaultSignalSeconds = 300;

/** Slurm sends --signal at most this many seconds ahead (its sig_time field is 16 bits). */
export const maxSignalSeconds = 65_535;

/**
 * Seconds in a Slurm time string: "M", "M:S", "H:M:S", "D-H", "D-H:M", "D-H:M:S"
 * (sbatch(1), --time). Throws ConfigError on anything else.
 */
export function parseSlurmTime(text: string): number {
  const bad = (): ConfigError =>
    new ConfigError(`--time ${JSON.stringify(text)} is not a Slurm time limit: use HH:MM:SS, MM, MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (for example 04:00:00).`);
  // Not trimmed: the value is written into the #SBATCH line as given, so what is checked must be exactly that.
  const match = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(text);
  if (!match) throw bad();
  const [, days, a, b, c] = match;
  const n = (s: string | undefined): number => (s === undefined ? 0 : Number(s));
  let seconds: number;
  if (days !== undefined) seconds = n(days) * 86_400 + n(a) * 3600 + n(b) * 60 + n(c);
  else if (c !== undefined) seconds = n(a) * 3600 + n(b) * 60 + n(c);
  else if (b !== undefined) seconds = n(a) * 60 + n(b);
  else seconds = n(a) * 60;
  if (seconds <= 0) throw bad();
  return seconds;
}

const plainToken = /^[^\s'"%]+$/;

/**
 * A value that goes into an #SBATCH line must stay on it: sbatch reads
 * directives up to the first line that is not one, so a newline in --time
 * ends the directives there and every option after it (--signal, --requeue,
 * each --sbatch-arg) is dropped without a word. Other control characters
 * have no place in a Slurm option either.
 */
function refuseControlCharacters(flag: string, value: string): void {
  if (controlCharacter.test(value)) {
    throw new ConfigError(
      `${flag} ${JSON.stringify(value)} contains a newline or another control character, which would end its #SBATCH line early ` +
        '(sbatch then ignores every option after it): give the value on one line, without control characters.',
    );
  }
}

/** Checks the options a user typed, with messages that name the flag. */
export function validateSlurmOptions(options: SlurmOptions): SlurmOptions {
  if (options.partition !== undefined) refuseControlCharacters('--partition', options.partition);
  if (options.time !== undefined) refuseControlCharacters('--time', options.time);
  for (const arg of options.sbatchArgs) refuseControlCharacters('--sbatch-arg', arg);
  const positive = (name: string, value: number | undefined): void => {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new ConfigError(`--${name} ${value} is invalid: expected a positive integer`);
    }
  };
  positive('cpus-per-task', options.cpusPerTask);
  positive('gpus-per-task', options.gpusPerTask);
  positive('max-concurrent', options.maxConcurrent);
  if (!Number.isInteger(options.signalSeconds) || options.signalSeconds < 1 || options.signalSeconds > maxSignalSeconds) {
    throw new ConfigError(`--signal-seconds ${options.signalSeconds} is invalid: expected whole seconds from 1 to ${maxSignalSeconds}`);
  }
  if (options.partition !== undefined && !plainToken.test(options.partition)) {
    throw new ConfigError(`--partition ${JSON.stringify(options.partition)} is invalid: a partition name (or comma-separated list) without spaces or quotes`);
  }
  if (options.time !== undefined) {
    const limit = parseSlurmTime(options.time);
    if (options.signalSeconds >= limit) {
      throw new ConfigError(
        `--signal-seconds ${options.signalSeconds} is not shorter than --time ${options.time} (${limit} s): ` +
          'the checkpoint warning would come before the run starts. Lower --signal-seconds or raise --time.',
      );
    }
  }
  for (const arg of options.sbatchArgs) {
    if (!/^--?[A-Za-z]/.test(arg) || /[\r\n]/.test(arg)) {
      throw new ConfigError(
        `--sbatch-arg ${JSON.stringify(arg)} is invalid: give one sbatch option per --sbatch-arg, joined with "=", e.g. --sbatch-arg=--qos=high`,
      );
    }
  }
  return options;
}

/**
 * sbatch's --array value for these task ids: consecutive ids as ranges,
 * then `%K` to run at most K at once ("0-3,5,7-9%2").
 */
export function arraySpec(taskIds: readonly number[], maxConcurrent?: number): string {
  const ids = [...new Set(taskIds)].sort((a, b) => a - b);
  if (ids.length === 0) throw new RangeError('arraySpec needs at least one task id');
  if (ids.some((id) => !Number.isInteger(id) || id < 0)) throw new RangeError(`array task ids must be non-negative integers, got ${ids.join(',')}`);
  const parts: string[] = [];
  let start = ids[0]!;
  let prev = start;
  const close = (): void => {
    parts.push(start === prev ? `${start}` : `${start}-${prev}`);
  };
  for (const id of ids.slice(1)) {
    if (id === prev + 1) {
      prev = id;
      continue;
    }
    close();
    start = id;
    prev = id;
  }
  close();
  return `${parts.join(',')}${maxConcurrent !== undefined ? `%${maxConcurrent}` : ''}`;
}

/** Single-quoted for bash, so paths with spaces or `$` reach node unchanged. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export interface ScriptInput {
  sweepName: string;
  /** The sweep's index.json: the array task finds its run there. */
  indexFile: string;
  taskIds: readonly number[];
  /** Slurm output file pattern, one per array task, appended across requeues. */
  outputPattern: string;
  /** Working directory of the tasks: the checkout, so the run records its git commit. */
  workDir: string;
  /** Node executable and the CLI entry point on the nodes. */
  node: string;
  cli: string;
  options: SlurmOptions;
}

/** Directives must be one token: Slurm reads `#SBATCH` lines without a shell, and `%` starts its filename patterns. */
function directivePath(name: string, path: string): string {
  if (/[\s'"]/.test(path) || controlCharacter.test(path)) {
    throw new ConfigError(
      `${name} ${JSON.stringify(path)} contains whitespace, quotes or control characters, which #SBATCH lines cannot carry: use a path without them (e.g. --runs-dir).`,
    );
  }
  return path;
}

export function sbatchScript(input: ScriptInput): string {
  const o = validateSlurmOptions(input.options);
  if (/%/.test(input.workDir) || /%/.test(input.outputPattern.replace(/%[Aa]/g, ''))) {
    throw new ConfigError(`Paths given to Slurm must not contain "%" (it starts Slurm's filename patterns): ${input.outputPattern}`);
  }
  const lines = [
    '#!/bin/bash',
    `# curl-rl sweep ${input.sweepName}: one Slurm array task per run, written by \`curl-rl sweep --executor slurm\`.`,
    `# Each task runs the run listed under its SLURM_ARRAY_TASK_ID in ${input.indexFile},`,
    '# or resumes it from its last checkpoint when it has one (after a requeue, a preemption or a node failure).',
    `#SBATCH --job-name=curl-rl-${input.sweepName}`,
    `#SBATCH --array=${arraySpec(input.taskIds, o.maxConcurrent)}`,
    `#SBATCH --output=${directivePath('the sweep folder', input.outputPattern)}`,
    // Append: a requeued task writes to the same file, so its earlier attempts stay readable.
    '#SBATCH --open-mode=append',
    `#SBATCH --chdir=${directivePath('the checkout', input.workDir)}`,
    '#SBATCH --ntasks=1',
    `#SBATCH --cpus-per-task=${o.cpusPerTask}`,
  ];
  if (o.gpusPerTask !== undefined) lines.push(`#SBATCH --gpus-per-task=${o.gpusPerTask}`);
  if (o.partition !== undefined) lines.push(`#SBATCH --partition=${o.partition}`);
  if (o.time !== undefined) lines.push(`#SBATCH --time=${o.time}`);
  // B: signals the batch shell only, which is the run itself (exec below): it checkpoints and exits cleanly.
  lines.push(`#SBATCH --signal=B:TERM@${o.signalSeconds}`);
  lines.push(o.requeue ? '#SBATCH --requeue' : '#SBATCH --no-requeue');
  for (const arg of o.sbatchArgs) lines.push(`#SBATCH ${arg}`);
  const task = [shellQuote(input.node), shellQuote(input.cli), 'sweep', 'task', shellQuote(input.indexFile)];
  if (o.requeue) task.push('--requeue-on-signal');
  lines.push(
    '',
    // exec: node becomes the batch shell, so Slurm's signals reach the run directly and no shell exits under it mid-checkpoint.
    `exec ${task.join(' ')}`,
    '',
  );
  return lines.join('\n');
}

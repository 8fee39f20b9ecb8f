/*
 * How the sweep starts one `curl-rl train` process. The runner takes any
 * TrainSpawner, so tests substitute a fake train script (or a function) and
 * never run real training.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunSpec } from './spec.js';

export interface TrainLaunch {
  run: RunSpec;
  /** Arguments after the CLI entry point, e.g. ['train', '--resume', dir]. */
  args: string[];
  /** File that receives the process's stdout and stderr (appended across attempts). */
  logPath: string;
  /** Aborted when the sweep is stopped; the spawner should stop the process gracefully. */
  signal: AbortSignal;
}

export interface TrainProcessResult {
  exitCode: number | null;
  /** Signal that killed the process, if it did not exit by itself. */
  signal: string | null;
  /** Last lines of the process output, for failure reasons. */
  outputTail: string;
  /** Set when the process could not be started at all. */
  spawnError?: string;
}

export type TrainSpawner = (launch: TrainLaunch) => Promise<TrainProcessResult>;

export const cliEntry = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'bin.js');

const tailChars = 4000;

export interface ProcessSpawnerOptions {
  /** Program and leading arguments; default: this Node running the repository's CLI entry point. */
  command?: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Signal sent to the child when the sweep is aborted (train checkpoints on SIGTERM and SIGINT). */
  stopSignal?: NodeJS.Signals;
}

export function processSpawner(options: ProcessSpawnerOptions = {}): TrainSpawner {
  const [program, ...lead] = options.command ?? [process.execPath, cliEntry];
  if (program === undefined) throw new Error('processSpawner: command must name a program');
  return (launch) =>
    new Promise<TrainProcessResult>((resolvePromise) => {
      mkdirSync(dirname(launch.logPath), { recursive: true });
      const log = createWriteStream(launch.logPath, { flags: 'a' });
      log.write(`\n# ${new Date().toISOString()} ${[program, ...lead, ...launch.args].join(' ')}\n`);
      let tail = '';
      const keep = (chunk: Buffer): void => {
        log.write(chunk);
        tail = (tail + chunk.toString('utf8')).slice(-tailChars);
      };
      const child = spawn(program, [...lead, ...launch.args], {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const stop = (): void => {
        child.kill(options.stopSignal ?? 'SIGTERM');
      };
      if (launch.signal.aborted) stop();
      else launch.signal.addEventListener('abort', stop, { once: true });
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let settled = false;
      const finish = (result: TrainProcessResult): void => {
        if (settled) return;
        settled = true;
        launch.signal.removeEventListener('abort', stop);
        log.end(() => resolvePromise(result));
      };
      // A program that cannot start emits 'error' and may never emit 'close'.
      child.on('error', (error) => {
        if (child.pid === undefined) finish({ exitCode: null, signal: null, outputTail: tail, spawnError: error.message });
      });
      child.on('close', (code, signal) => finish({ exitCode: code, signal, outputTail: tail }));
    });
}

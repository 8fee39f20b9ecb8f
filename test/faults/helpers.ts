/*
 * Runs the real CLI as a user would, with a watchdog instead of wall-clock
 * assertions: a process that has not exited within `hangAfterMs` is killed
 * (with everything it started) and the test fails as a hang. Every process a
 * test starts carries a marker in its environment, inherited by whatever it
 * spawns, so a test can check that nothing of it is left running.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Config } from '../../src/config/schema.js';
import { train } from '../../src/loop/train.js';
import { readMetrics } from '../../src/run/metrics.js';
import { comparable, repoRoot } from '../loop/helpers.js';

export const bin = join(repoRoot, 'src', 'cli', 'bin.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

export interface RunningCli {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly mark: string;
  /** Output so far (stdout and stderr interleaved as they arrived). */
  output(): string;
  /** Resolves once the output matches `pattern`; rejects if the process exits or `timeoutMs` passes first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  readonly done: Promise<CliResult>;
}

const running = new Set<RunningCli>();

/** Pids of live processes whose environment holds `mark` (Linux /proc); zombies do not count. */
export function processesWithMark(mark: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const state = readFileSync(`/proc/${entry}/stat`, 'latin1').replace(/^.*\) /, '')[0];
      if (state !== 'Z' && readFileSync(`/proc/${entry}/environ`, 'latin1').includes(mark)) found.push(Number(entry));
    } catch {
      // Gone while we looked, or not ours to read.
    }
  }
  return found;
}

function killTree(cli: RunningCli): void {
  for (const pid of processesWithMark(cli.mark)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** `detached`: the CLI leads a process group of its own, which a test can signal as a whole (what a terminal's hang-up reaches). */
export function startCli(args: string[], options: { hangAfterMs?: number; env?: NodeJS.ProcessEnv; detached?: boolean } = {}): RunningCli {
  const mark = `CURL_RL_FAULT_TEST_${randomUUID().replace(/-/g, '')}`;
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env, [mark]: '1' },
    detached: options.detached ?? false,
  });
  let stdout = '';
  let stderr = '';
  let both = '';
  const listeners = new Set<() => void>();
  const onData = (): void => {
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    both += chunk.toString();
    onData();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    both += chunk.toString();
    onData();
  });
  // Generous: CI machines are shared and slow under load; a hang still fails, just later.
  const hangAfterMs = options.hangAfterMs ?? 150_000;
  let cli: RunningCli;
  const done = new Promise<CliResult>((resolve, reject) => {
    const watchdog = setTimeout(() => {
      killTree(cli);
      reject(new Error(`curl-rl ${args.join(' ')} did not exit within ${hangAfterMs / 1000} s: it hangs. Output:\n${both.slice(-3000)}`));
    }, hangAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      running.delete(cli);
      onData();
      resolve({ code, signal, stdout, stderr, pid: child.pid! });
    });
  });
  done.catch(() => undefined);
  cli = {
    child,
    pid: child.pid!,
    mark,
    output: () => both,
    done,
    waitFor(pattern, timeoutMs = 120_000) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(both)) finish(resolve);
          else if (child.exitCode !== null || child.signalCode !== null) finish(() => reject(new Error(`exited before printing ${pattern}:\n${both.slice(-3000)}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`no ${pattern} within ${timeoutMs / 1000} s:\n${both.slice(-3000)}`))), timeoutMs);
        const finish = (then: () => void): void => {
          clearTimeout(timer);
          listeners.delete(check);
          then();
        };
        listeners.add(check);
        check();
      });
    },
  };
  running.add(cli);
  return cli;
}

/**
 * Runs a command line of the CLI in this process (no start-up per case) and
 * returns its exit code and everything it printed, stdout and stderr together.
 */
export async function cliInProcess(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const collect = (chunk: string | Uint8Array): boolean => {
    lines.push(String(chunk));
    return true;
  };
  const print = (...parts: unknown[]): void => void lines.push(parts.map(String).join(' '));
  const spies = [
    vi.spyOn(console, 'error').mockImplementation(print),
    vi.spyOn(console, 'log').mockImplementation(print),
    vi.spyOn(process.stderr, 'write').mockImplementation(collect),
    vi.spyOn(process.stdout, 'write').mockImplementation(collect),
  ];
  try {
    const code = await main(args);
    return { code, out: lines.join('\n') };
  } finally {
    process.exitCode = undefined;
    for (const spy of spies) spy.mockRestore();
  }
}

/** Runs the CLI to its end (under the watchdog). */
export function runCli(args: string[], options: { hangAfterMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult & { leftover: number[] }> {
  const cli = startCli(args, options);
  return cli.done.then(async (result) => ({ ...result, leftover: await leftoverAfterExit(cli.mark) }));
}

/** Processes still carrying the mark a moment after the CLI exited (children get a moment to be reaped). */
export async function leftoverAfterExit(mark: string): Promise<number[]> {
  for (let i = 0; i < 20; i++) {
    const left = processesWithMark(mark);
    if (left.length === 0) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return processesWithMark(mark);
}

/** Kills whatever a test left running, even when it failed half way. */
export function killChildrenAfterEach(): void {
  afterEach(() => {
    for (const cli of [...running]) killTree(cli);
  });
}

/** A temp folder for this test file, removed with everything in it when the file is done. */
export function scratchRoot(prefix: string): () => string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  let n = 0;
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  return () => {
    const dir = join(root, String(n++));
    mkdirSync(dir);
    return dir;
  };
}

export function copyRun(from: string, to: string): string {
  cpSync(from, to, { recursive: true });
  // A copied lock would name the process that wrote the original.
  rmSync(join(to, 'lock'), { force: true });
  return to;
}

export function writePreset(dir: string, fields: Record<string, unknown>): string {
  const path = join(dir, 'preset.json');
  writeFileSync(path, JSON.stringify(fields));
  return path;
}

/**
 * The reference a faulted CLI run is held to: `config` trained straight
 * through in `base` (its comparable metrics), and a preset holding `config`
 * for the CLI runs, so that they train the same run.
 */
export async function referenceRun(base: string, config: Config): Promise<{ expected: Array<Record<string, unknown>>; preset: string }> {
  const preset = writePreset(base, { ...config, runsDir: base });
  const whole = await train({ config, runDir: join(base, 'whole'), progress: 'none', log: () => {} });
  return { expected: comparable(readMetrics(join(whole.runDir, 'metrics.jsonl'))), preset };
}

/** Whether this process may mount a tmpfs (root in a container that allows it); the reason when not. */
export function mountUnavailable(): string | null {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root (CI runs as root)';
  const probe = mkdtempSync(join(tmpdir(), 'curl-mount-probe-'));
  try {
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'pipe' });
    if (mounted.status !== 0) return `mount -t tmpfs is not permitted here: ${mounted.stderr.toString().trim()}`;
    spawnSync('umount', [probe]);
    return null;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

export function mountTmpfs(dir: string, sizeBytes: number): () => void {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  if (r.status !== 0) throw new Error(`mount tmpfs on ${dir} failed: ${r.stderr.toString()}`);
  let mounted = true;
  return () => {
    if (!mounted) return;
    // Lazy: a process that still has a file open there cannot keep the test's clean-up from finishing.
    spawnSync('umount', ['-l', dir]);
    mounted = false;
  };
}

export function remount(dir: string, mode: 'ro' | 'rw'): void {
  // A file open for writing makes a remount to read-only fail with EBUSY; the run opens files only briefly, so retry.
  for (let attempt = 0; attempt < 50; attempt++) {
    const r = spawnSync('mount', ['-o', `remount,${mode}`, dir], { stdio: 'pipe' });
    if (r.status === 0) return;
    spawnSync('sleep', ['0.05']);
  }
  throw new Error(`could not remount ${dir} ${mode}`);
}

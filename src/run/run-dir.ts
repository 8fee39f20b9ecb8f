/*
 * A run directory holds everything about one training run:
 *   config.json    resolved config, package version, backend, git commit
 *   status.json    running | finished | interrupted | failed, with counters
 *   metrics.jsonl  one typed record per line (train, episode, eval, checkpoint, restart)
 *   eval.csv       the eval records as a table
 *   checkpoints/   ckpt-<agentStep>/ directories and the `latest` pointer
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { configSchema, type Config } from '../config/schema.js';
import { packageVersion } from '../version.js';
import { writeJsonAtomic } from './fs-atomic.js';

export interface RunConfigFile {
  config: Config;
  version: string;
  backend: string;
  gitCommit: string | null;
  createdAt: string;
}

export function gitCommit(cwd: string = process.cwd()): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || null;
  } catch {
    return null;
  }
}

export function runDirName(config: Config, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${config.env}-${config.aux}-s${config.seed}-${stamp}`;
}

/** A control character (newline, tab, escape, ...): it breaks the line-based formats a name or value is written into. */
export const controlCharacter = /[\u0000-\u001f\u007f]/;

/**
 * A name that becomes one folder below another: "." and ".." would name the
 * folder itself or its parent, a slash (or backslash) a folder further away, and a
 * control character a name no script or #SBATCH line carries intact.
 */
export function pathSegmentProblem(name: string): string | null {
  if (name === '' || name === '.' || name === '..') return 'it must not be empty, "." or ".."';
  if (/[/\\]/.test(name)) return 'it must not contain "/" or "\\"';
  if (name.includes('..')) return 'it must not contain ".."';
  if (controlCharacter.test(name)) return 'it must not contain control characters';
  return null;
}

/** A run directory that cannot be created or written: nothing was started. Exit code 2, like other setup errors. */
export class RunDirError extends ConfigError {}

/** An fs error code in words a person can act on. */
export function describeFsError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    EROFS: 'the file system is read-only',
    EACCES: 'permission denied',
    EPERM: 'the operation is not permitted',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'the disk quota is used up',
    ENOTDIR: 'part of the path is a file, not a folder',
    EEXIST: 'a file of that name is in the way',
    ENOENT: 'a folder on the path does not exist',
    EIO: 'an input/output error (a failing disk?)',
  };
  return (e.code && words[e.code] ? `${words[e.code]} (${e.code})` : undefined) ?? e.message ?? String(error);
}

/** The error the system gave (a file or folder it refused: ENOSPC, EROFS, ...), when `error` is one or was caused by one; else undefined. */
export function systemErrorIn(error: unknown): NodeJS.ErrnoException | undefined {
  for (let at = error, depth = 0; at instanceof Error && depth < 8; at = at.cause, depth++) {
    if (typeof (at as NodeJS.ErrnoException).code === 'string' && 'syscall' in at) return at as NodeJS.ErrnoException;
  }
  return undefined;
}

/**
 * Creates `dir` and its missing parents one level at a time: a recursive
 * mkdir reports ENOENT when the real cause is a read-only file system, and the
 * person needs the real cause.
 */
export function makeRunDirs(dir: string): void {
  const missing: string[] = [];
  let at = resolve(dir);
  while (!existsSync(at)) {
    missing.unshift(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const path of missing) {
    try {
      mkdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && existsSync(path)) continue;
      throw new RunDirError(`Cannot create the run directory ${dir}: creating ${path} failed: ${describeFsError(error)}. Choose a writable place with --run-dir or --runs-dir.`);
    }
  }
}

/** Where a new run goes: --run-dir, or <runsDir>/<env>-<aux>-s<seed>-<time>. */
export function newRunDirPath(config: Config, explicitDir?: string): string {
  return resolve(explicitDir ?? join(config.runsDir, runDirName(config)));
}

/** Writes config.json into a new run directory (which the caller has created and locked). */
export function writeRunConfig(dir: string, config: Config, backend: string): void {
  if (existsSync(join(dir, 'config.json'))) {
    throw new ConfigError(`Run directory ${dir} already holds a run. Resume it with \`curl-rl train --resume ${dir}\` or choose another --run-dir.`);
  }
  mkdirSync(join(dir, 'checkpoints'), { recursive: true });
  const file: RunConfigFile = {
    config,
    version: packageVersion,
    backend,
    gitCommit: gitCommit(),
    createdAt: new Date().toISOString(),
  };
  writeJsonAtomic(join(dir, 'config.json'), file);
}

/**
 * Records in config.json the plan fields a resume changed (`train --resume
 * DIR --steps N`), leaving the rest of the file as it was written, so the
 * next resume without flags continues the same plan.
 */
export function updateRunPlan(dir: string, changes: Partial<Config>): void {
  const path = join(dir, 'config.json');
  const file = JSON.parse(readFileSync(path, 'utf8')) as { config: Record<string, unknown> };
  writeJsonAtomic(path, { ...file, config: { ...file.config, ...changes } });
}

export function readRunConfig(dir: string): RunConfigFile {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) {
    throw new ConfigError(`${resolve(dir)} is not a run directory: it has no config.json.`);
  }
  const restore = 'It holds the run\'s configuration: restore it from a copy, or start a new run.';
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const why = error instanceof SyntaxError ? `it is not valid JSON (${error.message})` : `it cannot be read: ${describeFsError(error)}`;
    throw new ConfigError(`${path}: ${why}. ${restore}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || typeof (raw as { config?: unknown }).config !== 'object' || (raw as { config?: unknown }).config === null) {
    throw new ConfigError(`${path} has no "config" object, so it was not written by curl-rl train or was edited. ${restore}`);
  }
  const file = raw as RunConfigFile;
  const parsed = configSchema.safeParse(file.config);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => (i.path.length > 0 ? `field '${i.path.join('.')}': ${i.message}` : i.message));
    throw new ConfigError(`${path} holds a configuration this version cannot use: ${issues.join('; ')}. ${restore}`);
  }
  return { ...file, config: parsed.data };
}

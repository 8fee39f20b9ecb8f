import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { configSchema, type Config } from '../config/schema.js';
import { packageVersion } from '../version.js';
import { writeJsonAtomic } from './fs-atomic.js';

/**
 * A run directory holds everything about one training run:
 *   config.json    resolved config, package version, backend, git commit
 *   status.json    running | finished | interrupted | failed, with counters
 *   metrics.jsonl  one typed record per line (train, episode, eval, checkpoint, restart)
 *   eval.csv       the eval records as a table
 *   checkpoints/   ckpt-<agentStep>/ directories and the `latest` pointer
 */
export interface RunConfigFile {
  config: Config;
  version: string;
  backend: string;
  gitCommit: string | null;
  createdAt: string;
}

export type RunState = 'running' | 'finished' | 'interrupted' | 'failed';

export interface RunStatus {
  state: RunState;
  agentStep: number;
  envStep: number;
  reason?: string;
  updatedAt: string;
  wallClockSeconds: number;
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

export function createRunDir(config: Config, backend: string, explicitDir?: string): string {
  const dir = resolve(explicitDir ?? join(config.runsDir, runDirName(config)));
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
  return dir;
}

export function readRunConfig(dir: string): RunConfigFile {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) {
    throw new ConfigError(`${resolve(dir)} is not a run directory: it has no config.json.`);
  }
  const raw = JSON.parse(readFileSync(path, 'utf8')) as RunConfigFile;
  const parsed = configSchema.safeParse(raw.config);
  if (!parsed.success) {
    throw new ConfigError(`${path} holds a config this version cannot read: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return { ...raw, config: parsed.data };
}

export function writeStatus(dir: string, status: Omit<RunStatus, 'updatedAt'>): void {
  writeJsonAtomic(join(dir, 'status.json'), { ...status, updatedAt: new Date().toISOString() });
}

export function readStatus(dir: string): RunStatus | null {
  const path = join(dir, 'status.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as RunStatus) : null;
}

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StepValue } from './aggregate.js';
import { peekRunConfig, readMetrics, readStatus, type RunState } from './run-files.js';
import { variantOf } from './variant.js';

/** What the report needs from one run directory. */
export interface RunSummary {
  dir: string;
  env: string;
  /** What the report groups by (variant.ts): the aux loss, plus any augmentation that differs from CURL's. */
  variant: string;
  aux: string;
  seed: number;
  actionRepeat: number;
  state: RunState | 'unknown';
  /** Furthest env step the run reports (status.json, else the metrics). */
  envStep: number;
  evals: StepValue[];
  /** Training wall clock in seconds, cumulative over resumes. */
  wallClockSeconds?: number;
  /** envStep / wallClockSeconds: the whole run's throughput, evaluation included. */
  envStepsPerSec?: number;
  /** Mean of the logged update rates, over the windows in which updates ran. */
  updatesPerSec?: number;
  /**
   * Mean held-out R^2 of `curl-rl probe --out <run>/probe.json`, when the run folder has one: trained and at initialisation,
   * and the trained encoder's on each source of held-out episodes (policy, random actions) where the probe scored them apart.
   */
  probe?: { trained: number; initial: number; trainedBySource?: Record<string, number> };
  skippedLines: number;
}

/** probe.json beside a run's files (written by `curl-rl probe --out`), or undefined when absent or not a probe's. */
function readProbe(dir: string): RunSummary['probe'] {
  const path = join(dir, 'probe.json');
  if (!existsSync(path)) return undefined;
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as { scores?: Record<string, { meanR2?: unknown; bySource?: unknown }> };
    const trained = raw.scores?.trained?.meanR2;
    const initial = raw.scores?.initial?.meanR2;
    if (typeof trained !== 'number' || typeof initial !== 'number') return undefined;
    const bySource = raw.scores?.trained?.bySource;
    const sources =
      bySource !== null && typeof bySource === 'object'
        ? Object.entries(bySource as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number')
        : [];
    return sources.length > 0 ? { trained, initial, trainedBySource: Object.fromEntries(sources) } : { trained, initial };
  } catch {
    return undefined;
  }
}

/** A run directory holds config.json and metrics.jsonl. */
export function isRunDir(dir: string): boolean {
  return existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'metrics.jsonl'));
}

/**
 * Run directories under root, recursively, sorted. Folders starting with '.'
 * (such as a sweep's .attempts/) and node_modules are skipped, and the search
 * does not descend into a run directory (its checkpoints are not runs).
 */
export function findRunDirs(root: string): string[] {
  return scanRunsRoot(root).runDirs;
}

/** The parts of a sweep's index.json (experiments/sweep/runner.ts) the report shows. */
export interface SweepIndexSummary {
  path: string;
  name: string;
  elapsedSeconds?: number;
  runs: Array<{ id: string; state: string; reason?: string }>;
}

function readSweepIndex(path: string): SweepIndexSummary | undefined {
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown; elapsedSeconds?: unknown; runs?: unknown };
    if (typeof raw.name !== 'string' || !Array.isArray(raw.runs)) return undefined;
    const runs = (raw.runs as Array<Record<string, unknown>>).flatMap((r) =>
      typeof r.id === 'string' && typeof r.state === 'string'
        ? [{ id: r.id, state: r.state, ...(typeof r.reason === 'string' ? { reason: r.reason } : {}) }]
        : [],
    );
    return { path, name: raw.name, runs, ...(typeof raw.elapsedSeconds === 'number' ? { elapsedSeconds: raw.elapsedSeconds } : {}) };
  } catch {
    return undefined;
  }
}

/** Run directories and sweep indexes under root (a sweep folder holds index.json next to its runs). */
export function scanRunsRoot(root: string): { runDirs: string[]; sweeps: SweepIndexSummary[] } {
  const runDirs: string[] = [];
  const sweeps: SweepIndexSummary[] = [];
  const walk = (dir: string): void => {
    if (isRunDir(dir)) {
      runDirs.push(dir);
      return;
    }
    const index = join(dir, 'index.json');
    if (existsSync(index)) {
      const sweep = readSweepIndex(index);
      if (sweep) sweeps.push(sweep);
    }
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (!entry.isDirectory() || entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      walk(join(dir, entry.name));
    }
  };
  if (existsSync(root)) walk(root);
  return { runDirs, sweeps };
}

function mean(values: number[]): number | undefined {
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Undefined when config.json is unreadable (the caller reports it as skipped). */
export function loadRun(dir: string): RunSummary | undefined {
  const configFile = peekRunConfig(dir);
  if (configFile === undefined) return undefined;
  const { config } = configFile;
  const status = readStatus(dir);
  const metrics = readMetrics(dir);
  let lastRecordStep = 0;
  let lastWallTime = 0;
  for (const r of metrics.records) {
    if (typeof r.envStep === 'number') lastRecordStep = Math.max(lastRecordStep, r.envStep);
    if (typeof r.wallTime === 'number') lastWallTime = Math.max(lastWallTime, r.wallTime);
  }
  const envStep = Math.max(status?.envStep ?? 0, lastRecordStep);
  const wallClockSeconds = status?.wallClockSeconds ?? (lastWallTime > 0 ? lastWallTime : undefined);
  const actionRepeat = typeof config.actionRepeat === 'number' ? config.actionRepeat : 1;
  const summary: RunSummary = {
    dir,
    env: config.env,
    variant: variantOf(config),
    aux: config.aux,
    seed: config.seed,
    actionRepeat,
    state: status?.state ?? 'unknown',
    envStep,
    evals: metrics.evals.map((e) => ({ envStep: e.envStep, value: e.mean })),
    skippedLines: metrics.skippedLines,
  };
  if (wallClockSeconds !== undefined) {
    summary.wallClockSeconds = wallClockSeconds;
    if (wallClockSeconds > 0) summary.envStepsPerSec = envStep / wallClockSeconds;
  }
  // Windows before the first update (the random initial steps) log 0 updates/s and would drag the mean down.
  const ups = mean(metrics.train.flatMap((t) => (t.updatesPerSec !== undefined && Number.isFinite(t.updatesPerSec) && t.updatesPerSec > 0 ? [t.updatesPerSec] : [])));
  if (ups !== undefined) summary.updatesPerSec = ups;
  const probe = readProbe(dir);
  if (probe !== undefined) summary.probe = probe;
  return summary;
}

/*
 * One writer per run, one process per sweep: a second `train --resume` of a
 * run still training is refused, so two processes never both write
 * metrics.jsonl, and so is a second sweep of a sweep that runs. The lock
 * names its holder and is stale exactly when that process is gone, however it
 * ended.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { lockSweep, runSweep, SweepLockedError } from '../../experiments/sweep/runner.js';
import type { TrainSpawner } from '../../experiments/sweep/spawner.js';
import { expandSweep, parseSweepFile, type Sweep } from '../../experiments/sweep/spec.js';
import { RunLockedError, acquireRunLock, processStartTicks } from '../../src/run/lock.js';
import { readMetrics } from '../../src/run/metrics.js';
import { readStatus } from '../../src/run/status.js';
import { comparable, tinyConfig } from '../loop/helpers.js';
import { killChildrenAfterEach, referenceRun, runCli, scratchRoot, startCli } from './helpers.js';

const scratch = scratchRoot('curl-faults-lock-');
killChildrenAfterEach();

function lockFile(dir: string, holder: Record<string, unknown>, name = 'lock'): void {
  writeFileSync(join(dir, name), JSON.stringify({ host: hostname(), since: '2024-01-01T00:00:00Z', command: 'test', startTicks: null, ...holder }));
}

/** A process that runs until killed, with its start time (a lock naming it is live). */
function sleeper(): { pid: number; startTicks: number; kill: () => void } {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  return { pid: child.pid!, startTicks: processStartTicks(child.pid!)!, kill: () => child.kill('SIGKILL') };
}

async function deadPid(): Promise<number> {
  const gone = spawn('true');
  await new Promise((r) => gone.on('close', r));
  return gone.pid!;
}

describe('the run lock', () => {
  it('refuses a second holder while the first lives, naming its pid, and is taken over once it is gone', async () => {
    const dir = scratch();
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      lockFile(dir, { pid: sleeper.pid, startTicks: processStartTicks(sleeper.pid!) });
      expect(() => acquireRunLock(dir)).toThrow(RunLockedError);
      expect(() => acquireRunLock(dir)).toThrow(new RegExp(`in use by process ${sleeper.pid} `));
      // The same pid with another start time is a different process that reused the number: the lock is stale.
      lockFile(dir, { pid: sleeper.pid, startTicks: processStartTicks(sleeper.pid!)! + 1 });
      const said: string[] = [];
      const lock = acquireRunLock(dir, (l) => said.push(l));
      expect(said.join()).toMatch(new RegExp(`took over the lock of process ${sleeper.pid}`));
      expect(JSON.parse(readFileSync(join(dir, 'lock'), 'utf8')).pid).toBe(process.pid);
      lock.release();
      expect(existsSync(join(dir, 'lock'))).toBe(false);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('takes over the lock of a process that no longer exists; refuses one it cannot judge', async () => {
    const dir = scratch();
    const gone = spawn('true');
    await new Promise((r) => gone.on('close', r));
    lockFile(dir, { pid: gone.pid });
    const lock = acquireRunLock(dir);
    lock.release();
    lockFile(dir, { pid: 1, host: 'elsewhere' });
    expect(() => acquireRunLock(dir)).toThrow(/in use by process 1 on host elsewhere .* If that process is gone, delete/);
    writeFileSync(join(dir, 'lock'), 'not a lock');
    expect(() => acquireRunLock(dir)).toThrow(/is not a lock this program wrote/);
  });

  it('release leaves a lock that is not its own alone', () => {
    const dir = scratch();
    const lock = acquireRunLock(dir);
    lockFile(dir, { pid: 1 });
    lock.release();
    expect(existsSync(join(dir, 'lock'))).toBe(true);
  });
});

// The sweep lock is the run lock's implementation: a file in its place that
// it cannot read (an empty one included) is never taken for stale, a pid that
// another process reuses does not hold it, of sweeps racing for it one runs,
// and a sweep run again after a kill -9 does not move the folder of a train
// that still runs.
describe('the sweep lock', () => {
  const sweepIn = (dir: string): Sweep => ({ name: 'race', dir, runs: [] }) as unknown as Sweep;
  const racer = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'sweep-lock-racer.ts');

  it('refuses an empty lock file, a sweep may be writing it, and leaves it in place', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'sweep.lock'), '');
    expect(() => lockSweep(sweepIn(dir))).toThrow(SweepLockedError);
    expect(() => lockSweep(sweepIn(dir))).toThrow(/sweep\.lock is not a lock this program wrote.*delete/);
    expect(readFileSync(join(dir, 'sweep.lock'), 'utf8')).toBe('');
  });

  it('names a live holder, and takes over a lock whose pid lives on in another process (another start time)', () => {
    const dir = scratch();
    const live = sleeper();
    try {
      lockFile(dir, { pid: live.pid, startTicks: live.startTicks }, 'sweep.lock');
      expect(() => lockSweep(sweepIn(dir))).toThrow(new RegExp(`already running in process ${live.pid} `));
      // A busy sweep is a usage error like a busy run: exit code 2, nothing started.
      expect(new SweepLockedError('').exitCode).toBe(new RunLockedError('').exitCode);
      expect(new SweepLockedError('').exitCode).toBe(2);
      lockFile(dir, { pid: live.pid, startTicks: live.startTicks + 1 }, 'sweep.lock');
      const release = lockSweep(sweepIn(dir));
      expect(JSON.parse(readFileSync(join(dir, 'sweep.lock'), 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
      release();
      expect(existsSync(join(dir, 'sweep.lock'))).toBe(false);
    } finally {
      live.kill();
    }
  });

  /** Starts `n` racers, lets them go at once, and returns their lines. */
  async function race(dir: string, n: number): Promise<string[]> {
    const children = Array.from({ length: n }, () => spawn(process.execPath, ['--import', 'tsx', racer, dir, '1500'], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const outputs = children.map(
      (child) =>
        new Promise<string>((resolve) => {
          let out = '';
          child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
          child.on('close', () => resolve(out.trim()));
        }),
    );
    while (readdirSync(dir).filter((f) => f.startsWith('ready-')).length < n) await new Promise((r) => setTimeout(r, 20));
    writeFileSync(join(dir, 'go'), '');
    return Promise.all(outputs);
  }

  it('of sweeps racing for a free lock or for a stale one, exactly one runs; the others name it', async () => {
    for (const stale of [false, true]) {
      const dir = scratch();
      if (stale) lockFile(dir, { pid: await deadPid() }, 'sweep.lock');
      const lines = await race(dir, 4);
      const winners = lines.filter((l) => l.startsWith('won '));
      expect(winners, lines.join('\n')).toHaveLength(1);
      const winner = winners[0]!.slice(4);
      for (const line of lines.filter((l) => !l.startsWith('won '))) expect(line).toMatch(new RegExp(`^refused Sweep 'race' is already running in process ${winner} `));
      expect(existsSync(join(dir, 'sweep.lock'))).toBe(false);
      expect(readdirSync(dir).filter((f) => f.includes('lock'))).toEqual([]);
    }
  });

  it('a sweep run again after a kill -9 leaves alone the run folder of a train still holding its lock', async () => {
    const runsDir = scratch();
    const sweep = expandSweep(parseSweepFile({ name: 'k', tasks: ['cartpole-balance'], seeds: [1], aux: ['none', 'curl'] }), { runsDir });
    const [busy, free] = sweep.runs as [Sweep['runs'][number], Sweep['runs'][number]];
    const live = sleeper();
    try {
      // The killed sweep left its lock, a train that has not checkpointed yet, and a run that died before its first checkpoint.
      mkdirSync(sweep.dir, { recursive: true });
      lockFile(sweep.dir, { pid: await deadPid() }, 'sweep.lock');
      for (const run of sweep.runs) {
        mkdirSync(join(run.dir, 'checkpoints'), { recursive: true });
        writeFileSync(join(run.dir, 'metrics.jsonl'), '');
      }
      lockFile(busy.dir, { pid: live.pid, startTicks: live.startTicks });
      const started: string[] = [];
      const spawnTrain: TrainSpawner = async ({ run }) => {
        started.push(run.id);
        mkdirSync(run.dir, { recursive: true });
        writeFileSync(join(run.dir, 'status.json'), JSON.stringify({ state: 'finished', agentStep: 1, envStep: 8 }));
        return { exitCode: 0, signal: null, outputTail: '' };
      };
      const index = await runSweep(sweep, { parallel: 1, spawn: spawnTrain });
      expect(started).toEqual([free.id]);
      const outcome = index.runs.find((r) => r.id === busy.id)!;
      expect(outcome.state).toBe('failed');
      expect(outcome.reason).toMatch(new RegExp(`is being trained by process ${live.pid} .*left in place`));
      expect(JSON.parse(readFileSync(join(busy.dir, 'lock'), 'utf8')).pid).toBe(live.pid);
      expect(existsSync(join(busy.dir, 'metrics.jsonl'))).toBe(true);
      // The free run's leftovers were moved aside for its fresh start; the busy one's stayed.
      expect(readdirSync(join(sweep.dir, '.attempts')).map((n) => n.replace(/-\d{4}-.*$/, ''))).toEqual([free.id]);
    } finally {
      live.kill();
    }
  });
});

describe('two processes on one run', () => {
  // One conv worker, written into the preset: a resume's numbers match the reference only with the same count.
  const config = tinyConfig({ backend: 'wasm', steps: 800, convWorkers: 1 });
  let expected: Array<Record<string, unknown>>;
  let preset: string;

  beforeAll(async () => {
    ({ expected, preset } = await referenceRun(scratch(), config));
  });

  it('a second train --resume of a run still training exits 2 naming the holder; the first is unharmed', async () => {
    const dir = join(scratch(), 'run');
    const first = startCli(['train', '--preset', preset, '--run-dir', dir, '--steps', '400000', '--progress', 'plain', '--conv-workers', '0']);
    await first.waitFor(/\[train\] env step 200\//);
    const second = await runCli(['train', '--resume', dir, '--progress', 'none']);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(new RegExp(`${dir.replace(/[/.]/g, '\\$&')} is in use by process ${first.pid} .*kill -INT ${first.pid}`));
    expect(second.stderr).not.toMatch(/\n\s+at /);
    expect(second.leftover).toEqual([]);
    first.child.kill('SIGINT');
    const result = await first.done;
    expect(result.code).toBe(130);
    const records = readMetrics(join(dir, 'metrics.jsonl'));
    expect(records.some((r) => r.type === 'resume')).toBe(false);
    const steps = records.map((r) => r.agentStep);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    expect(readStatus(dir)?.state).toBe('interrupted');
    expect(existsSync(join(dir, 'lock'))).toBe(false);
  });

  it('after kill -9 the next resume takes the stale lock over and ends identical to a run never stopped', async () => {
    const dir = join(scratch(), 'run');
    const first = startCli(['train', '--preset', preset, '--run-dir', dir, '--progress', 'plain']);
    await first.waitFor(/\[checkpoint\] .*ckpt-000000080/);
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    expect(JSON.parse(readFileSync(join(dir, 'lock'), 'utf8')).pid).toBe(first.pid);
    const resumed = await runCli(['train', '--resume', dir, '--progress', 'none']);
    expect(resumed.stderr).toMatch(new RegExp(`took over the lock of process ${first.pid} .*no longer runs`));
    expect(resumed.code).toBe(0);
    expect(resumed.leftover).toEqual([]);
    expect(readStatus(dir)).toMatchObject({ state: 'finished', agentStep: 200 });
    expect(comparable(readMetrics(join(dir, 'metrics.jsonl')))).toEqual(expected);
    expect(existsSync(join(dir, 'lock'))).toBe(false);
  });
});

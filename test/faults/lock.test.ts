import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { train } from '../../src/loop/train.js';
import { RunLockedError, acquireRunLock, processStartTicks } from '../../src/run/lock.js';
import { readMetrics } from '../../src/run/metrics.js';
import { readStatus } from '../../src/run/status.js';
import { comparable, tinyConfig } from '../loop/helpers.js';
import { killChildrenAfterEach, runCli, scratchRoot, startCli, writePreset } from './helpers.js';

/**
 * One writer per run: a second `train --resume` of a run still training was
 * accepted, and both wrote metrics.jsonl. The lock names its holder and is
 * stale exactly when that process is gone, however it ended.
 */
const scratch = scratchRoot('curl-faults-lock-');
killChildrenAfterEach();

function lockFile(dir: string, holder: Record<string, unknown>): void {
  writeFileSync(join(dir, 'lock'), JSON.stringify({ host: hostname(), since: '2024-01-01T00:00:00Z', command: 'test', startTicks: null, ...holder }));
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

describe('two processes on one run', () => {
  // One conv worker, written into the preset: a resume's numbers match the reference only with the same count.
  const config = tinyConfig({ backend: 'wasm', steps: 800, convWorkers: 1 });
  let expected: Array<Record<string, unknown>>;
  let preset: string;

  beforeAll(async () => {
    const base = scratch();
    preset = writePreset(base, { ...config, runsDir: base });
    const whole = await train({ config, runDir: join(base, 'whole'), progress: 'none', log: () => {} });
    expected = comparable(readMetrics(join(whole.runDir, 'metrics.jsonl')));
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

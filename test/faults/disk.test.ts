/*
 * Real file-system faults on a small tmpfs: a disk that fills and a file
 * system remounted read-only while a run trains, and a run directory that
 * cannot be written at all. Each must end the run through the fatal-error
 * path (exit code, status.json when it can be written, checkpoints intact)
 * and never hang; once the fault is gone a resume matches a run that never
 * stopped. Mounting needs root, which CI has; elsewhere these skip, saying so.
 */
import { closeSync, cpSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { train } from '../../src/loop/train.js';
import { readMetrics } from '../../src/run/metrics.js';
import { readStatus } from '../../src/run/status.js';
import { comparable, tinyConfig } from '../loop/helpers.js';
import { killChildrenAfterEach, leftoverAfterExit, mountTmpfs, mountUnavailable, referenceRun, remount, runCli, scratchRoot, startCli } from './helpers.js';

const noMount = mountUnavailable();
if (noMount && process.env.CI) throw new Error(`CI must run the file-system fault tests, but ${noMount}`);

const scratch = scratchRoot('curl-faults-disk-');
killChildrenAfterEach();
const unmounts: Array<() => void> = [];
afterEach(() => {
  for (const unmount of unmounts.splice(0)) unmount();
});

function mounted(sizeBytes: number): string {
  const dir = join(scratch(), 'mnt');
  mkdirSync(dir);
  unmounts.push(mountTmpfs(dir, sizeBytes));
  return dir;
}

/** Writes zeros until the file system is full; returns the filler's path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  // The last pages too, a byte at a time would be slow: small writes until even those fail.
  const fd2 = openSync(path, 'a');
  try {
    for (;;) writeSync(fd2, Buffer.alloc(512));
  } catch {
    // Full.
  } finally {
    closeSync(fd2);
  }
  return path;
}

describe.skipIf(noMount !== null)(`file-system faults${noMount ? ` (skipped: ${noMount})` : ''}`, () => {
  // One conv worker, written into the preset: a resume's numbers match the reference only with the same count.
  const config = tinyConfig({ backend: 'wasm', steps: 800, convWorkers: 1 });
  let expected: Array<Record<string, unknown>>;
  let preset: string;

  beforeAll(async () => {
    ({ expected, preset } = await referenceRun(scratch(), config));
  });

  /** A run that would go on for long, faulted after its first checkpoint; resumed later with the reference's --steps. */
  async function faultAfterFirstCheckpoint(mnt: string, inject: () => void) {
    const dir = join(mnt, 'run');
    const cli = startCli(['train', '--preset', preset, '--run-dir', dir, '--steps', '400000', '--progress', 'plain']);
    await cli.waitFor(/\[checkpoint\] .*ckpt-000000080/);
    inject();
    const result = await cli.done;
    return { dir, result, leftover: await leftoverAfterExit(cli.mark) };
  }

  it('a disk that fills mid-run: exit 1, status failed with the reason, checkpoints intact, resume matches', async () => {
    const mnt = mounted(8 * 2 ** 20);
    let filler = '';
    const { dir, result, leftover } = await faultAfterFirstCheckpoint(mnt, () => (filler = fill(mnt)));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/run failed: .*(ENOSPC|no space left)/i);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(leftover).toEqual([]);
    const status = readStatus(dir)!;
    expect(status.state).toBe('failed');
    expect(status.reason).toMatch(/ENOSPC|no space/i);

    rmSync(filler);
    const resumed = await runCli(['train', '--resume', dir, '--steps', String(config.steps), '--progress', 'none']);
    expect(resumed.code).toBe(0);
    expect(readStatus(dir)?.state).toBe('finished');
    expect(comparable(readMetrics(join(dir, 'metrics.jsonl')))).toEqual(expected);
  });

  it('a file system remounted read-only mid-run: exit 1 saying so, no hang, resume matches once writable again', async () => {
    const mnt = mounted(64 * 2 ** 20);
    const { dir, result, leftover } = await faultAfterFirstCheckpoint(mnt, () => remount(mnt, 'ro'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/run failed: metrics\.jsonl could not be written: EROFS|run failed: .*read-only/);
    expect(result.stderr).toMatch(/status\.json could not be updated to 'failed' \(the file system is read-only \(EROFS\)\); it may still say 'running'/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(leftover).toEqual([]);

    remount(mnt, 'rw');
    const resumed = await runCli(['train', '--resume', dir, '--steps', String(config.steps), '--progress', 'none']);
    expect(resumed.stderr).toMatch(/took over the lock of process \d+/);
    expect(resumed.code).toBe(0);
    expect(comparable(readMetrics(join(dir, 'metrics.jsonl')))).toEqual(expected);
  });

  it('a run directory that cannot be written exits 2 with the real cause, before anything starts', async () => {
    const mnt = mounted(16 * 2 ** 20);
    const finished = join(mnt, 'done');
    const base = scratch();
    const run = await train({ config: { ...config, steps: 40 }, runDir: join(base, 'short'), progress: 'none', log: () => {} });
    cpSync(run.runDir, finished, { recursive: true });
    remount(mnt, 'ro');

    const fresh = await runCli(['train', '--preset', preset, '--run-dir', join(mnt, 'new', 'run')]);
    expect(fresh.code).toBe(2);
    expect(fresh.stderr).toMatch(/Cannot create the run directory .*new\/run: creating .*new failed: the file system is read-only \(EROFS\)/);
    expect(fresh.stderr).not.toMatch(/ENOENT|\n\s+at /);

    const resumed = await runCli(['train', '--resume', finished, '--steps', '400']);
    expect(resumed.code).toBe(2);
    expect(resumed.stderr).toMatch(/Cannot use the run directory .*done: the file system is read-only \(EROFS\)/);
    expect(resumed.leftover).toEqual([]);
    expect(readFileSync(join(finished, 'status.json'), 'utf8')).toMatch(/"finished"/);
  });
});

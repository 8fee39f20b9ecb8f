/*
 * Messages that say what happened: a remote reward of NaN is reported as
 * NaN (not as the `null` JSON makes of it); a disk that fills at a periodic
 * checkpoint is reported as that checkpoint, with no final checkpoint tried
 * on the full disk; and an empty newest checkpoint directory is named and
 * fallen back from, like any other damaged checkpoint, instead of being
 * skipped without a word.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteEnv, testServerCommand } from '../../envs/remote/index.js';
import { latestCheckpoint } from '../../src/loop/checkpoint.js';
import { train } from '../../src/loop/train.js';
import { readMetrics } from '../../src/run/metrics.js';
import { readStatus } from '../../src/run/status.js';
import { comparable, tinyConfig } from '../loop/helpers.js';
import { closedAfterEach } from '../remote/helpers.js';
import { copyRun, killChildrenAfterEach, leftoverAfterExit, mountTmpfs, mountUnavailable, referenceRun, runCli, scratchRoot, startCli } from './helpers.js';

const scratch = scratchRoot('curl-faults-messages-');
killChildrenAfterEach();

describe('a remote env whose reward is NaN', () => {
  const opened = closedAfterEach();

  it('is reported as NaN', async () => {
    const env = await createRemoteEnv({ command: testServerCommand(['--size', '8', '--nan-reward-after', '1']) });
    opened.push(env);
    await env.reset({ seed: 1 });
    const action = new Float32Array(2);
    await env.step(action);
    await expect(env.step(action)).rejects.toThrow(/step\.reward must be a finite number, got NaN/);
  });
});

const noMount = mountUnavailable();
if (noMount && process.env.CI) throw new Error(`CI must run the file-system fault tests, but ${noMount}`);

describe.skipIf(noMount !== null)(`a disk that fills at a periodic checkpoint${noMount ? ` (skipped: ${noMount})` : ''}`, () => {
  // 200 agent steps, periodic checkpoints every 80; one conv worker, written into the preset, as the reference has.
  const config = tinyConfig({ backend: 'wasm', steps: 800, convWorkers: 1 });
  let expected: Array<Record<string, unknown>>;
  let preset: string;
  const unmounts: Array<() => void> = [];
  afterEach(() => {
    for (const unmount of unmounts.splice(0)) unmount();
  });

  beforeAll(async () => {
    ({ expected, preset } = await referenceRun(scratch(), config));
  });

  /** Fills the file system but for about `spareBytes`: room for a few metrics records, none for a checkpoint. */
  function fillAllBut(dir: string, spareBytes: number): string {
    const spare = join(dir, 'spare');
    writeFileSync(spare, Buffer.alloc(spareBytes));
    const filler = join(dir, 'filler');
    const fd = openSync(filler, 'w');
    try {
      for (const size of [64 * 1024, 4096, 512]) {
        try {
          for (;;) writeSync(fd, Buffer.alloc(size));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        }
      }
    } finally {
      closeSync(fd);
    }
    rmSync(spare);
    return filler;
  }

  it('names the periodic checkpoint, tries no final one, keeps the one before; the resume matches a run never stopped', async () => {
    const mnt = join(scratch(), 'mnt');
    mkdirSync(mnt);
    unmounts.push(mountTmpfs(mnt, 8 * 2 ** 20));
    const dir = join(mnt, 'run');
    const cli = startCli(['train', '--preset', preset, '--run-dir', dir, '--steps', '400000', '--progress', 'plain']);
    await cli.waitFor(/\[checkpoint\] .*ckpt-000000080/);
    // The replay buffer alone is 500 x 16 x 16 x 3 bytes: the checkpoint at agent step 160 cannot fit, the log records before it can.
    const filler = fillAllBut(mnt, 48 * 1024);
    const result = await cli.done;
    expect(await leftoverAfterExit(cli.mark)).toEqual([]);
    expect(result.stderr).toMatch(/run failed: the periodic checkpoint at agent step 160 could not be written: no space left on the device \(ENOSPC\)/);
    expect(result.stderr).not.toMatch(/the final checkpoint could not be written/);
    expect(result.stderr).toMatch(/no final checkpoint: the run's files could not all be written, and the last periodic checkpoint is kept as it is/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.code).toBe(1);
    expect(readStatus(dir)).toMatchObject({ state: 'failed', reason: expect.stringMatching(/^the periodic checkpoint at agent step 160 could not be written/) });
    expect(latestCheckpoint(dir)).toMatch(/ckpt-000000080$/);
    expect(readdirSync(join(dir, 'checkpoints')).filter((n) => n.startsWith('.'))).toEqual([]);

    rmSync(filler);
    const resumed = await runCli(['train', '--resume', dir, '--steps', String(config.steps), '--progress', 'none']);
    expect(resumed.code).toBe(0);
    expect(comparable(readMetrics(join(dir, 'metrics.jsonl')))).toEqual(expected);
  });
});

describe('an empty newest checkpoint directory', () => {
  const config = tinyConfig({ backend: 'wasm', steps: 800, convWorkers: 1 });

  it('is named as unusable, set aside, and fallen back from; the resume matches a run never stopped', async () => {
    const base = scratch();
    const whole = await train({ config, runDir: join(base, 'whole'), progress: 'none', log: () => {} });
    const expected = comparable(readMetrics(join(whole.runDir, 'metrics.jsonl')));
    // Stopped at agent step 180: checkpoints at 160 (periodic) and 180 (the stop's).
    const stopped = await train({
      config,
      runDir: join(base, 'stopped'),
      progress: 'none',
      log: () => {},
      onStart: (trainer, shutdown) =>
        trainer.events.subscribe((e) => {
          if (e.type === 'transition' && e.agentStep === 180) shutdown.request({ kind: 'signal', signal: 'SIGINT' });
        }),
    });
    const run = copyRun(stopped.runDir, join(base, 'run'));
    const newest = join(run, 'checkpoints', 'ckpt-000000180');
    // What a lost write or a half-finished copy leaves: the folder, with nothing in it (`latest` still names it).
    for (const file of readdirSync(newest)) rmSync(join(newest, file));

    const result = await runCli(['train', '--resume', run, '--progress', 'none']);
    expect(result.stderr).toMatch(/checkpoint ckpt-000000180 cannot be used: .*loop\.msgpack is damaged: the file is missing/);
    expect(result.stderr).toMatch(/fell back to ckpt-000000160, the newest intact checkpoint; the damaged ckpt-000000180 was moved to .*damaged-ckpt-000000180/);
    expect(result.code).toBe(0);
    expect(existsSync(newest)).toBe(false);
    expect(readMetrics(join(run, 'metrics.jsonl')).filter((r) => r.type === 'resume').map((r) => r.agentStep)).toEqual([160]);
    expect(comparable(readMetrics(join(run, 'metrics.jsonl')))).toEqual(expected);
  });
});

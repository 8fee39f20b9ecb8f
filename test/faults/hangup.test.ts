/*
 * A hang-up (the terminal closed, an ssh connection dropped) stops a run the
 * way Ctrl-C does: the step in flight finishes, a checkpoint is written,
 * status.json says `interrupted`, the lock is released and the process exits
 * 129 (128 + SIGHUP). A resume then ends with the numbers of a run that never
 * stopped. Both ways a hang-up arrives are tried: a HUP to the whole process
 * group between two periodic checkpoints, and a real terminal (a pty) whose
 * far end closes, after which every write to it fails.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn as ptySpawn } from 'node-pty';
import { beforeAll, describe, expect, it } from 'vitest';
import { judgeOutcome } from '../../experiments/sweep/runner.js';
import { expandSweep, parseSweepFile } from '../../experiments/sweep/spec.js';
import { BackendUnavailableError, ConfigError, CurlRlError } from '../../src/core/errors.js';
import { latestCheckpoint } from '../../src/loop/checkpoint.js';
import { signalExitCode, stopSignals } from '../../src/loop/shutdown.js';
import { readMetrics } from '../../src/run/metrics.js';
import { readStatus } from '../../src/run/status.js';
import { comparable, repoRoot, tinyConfig } from '../loop/helpers.js';
import { bin, killChildrenAfterEach, leftoverAfterExit, processesWithMark, referenceRun, runCli, scratchRoot, startCli } from './helpers.js';

const scratch = scratchRoot('curl-faults-hup-');
killChildrenAfterEach();

describe('SIGHUP', () => {
  // 200 agent steps, periodic checkpoints at 80 and 160; one conv worker, written into the preset, as the reference has.
  const config = tinyConfig({ backend: 'wasm', steps: 800, convWorkers: 1 });
  let expected: Array<Record<string, unknown>>;
  let preset: string;

  beforeAll(async () => {
    ({ expected, preset } = await referenceRun(scratch(), config));
  });

  /** The run after a hang-up: interrupted at `agentStep` with that step's checkpoint and no lock; a resume then matches the reference. */
  async function expectStoppedCleanlyAndResumable(dir: string): Promise<void> {
    const status = readStatus(dir)!;
    expect(status.state).toBe('interrupted');
    expect(status.reason).toBe('stopped by SIGHUP');
    // Between the periodic checkpoints at agent steps 80 and 160: without a checkpoint of its own, the steps since 80 would be lost.
    expect(status.agentStep).toBeGreaterThan(80);
    expect(status.agentStep).toBeLessThan(160);
    expect(latestCheckpoint(dir)).toMatch(new RegExp(`ckpt-${String(status.agentStep).padStart(9, '0')}$`));
    expect(existsSync(join(dir, 'lock'))).toBe(false);
    const checkpoints = readMetrics(join(dir, 'metrics.jsonl')).filter((r) => r.type === 'checkpoint');
    expect(checkpoints.at(-1)).toMatchObject({ agentStep: status.agentStep, reason: 'SIGHUP' });

    const checkpoint = latestCheckpoint(dir);
    const resumed = await runCli(['train', '--resume', dir, '--progress', 'none']);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`resumed from ${checkpoint} at env step ${status.envStep}`);
    expect(resumed.leftover).toEqual([]);
    expect(readStatus(dir)).toMatchObject({ state: 'finished', agentStep: 200 });
    expect(comparable(readMetrics(join(dir, 'metrics.jsonl')))).toEqual(expected);
  }

  it('to the process group, mid-interval: checkpoint, status interrupted, lock released, exit 129; the resume matches a run never stopped', async () => {
    const dir = join(scratch(), 'run');
    const cli = startCli(['train', '--preset', preset, '--run-dir', dir, '--progress', 'plain'], { detached: true });
    await cli.waitFor(/\[train\] env step 400\//);
    // What a closing terminal or a dropped ssh session sends: a HUP to every process of the job.
    process.kill(-cli.pid, 'SIGHUP');
    const result = await cli.done;
    expect(result.stderr).toMatch(/SIGHUP received; stopping after the current step and writing a checkpoint/);
    expect(result.stderr).toMatch(/run interrupted; continue it with: npx curl-rl train --resume /);
    expect(result.code).toBe(129);
    expect(await leftoverAfterExit(cli.mark)).toEqual([]);
    await expectStoppedCleanlyAndResumable(dir);
  });

  it('from a terminal that closes (writes to it fail from then on): the same clean stop', async () => {
    const dir = join(scratch(), 'run');
    const mark = `CURL_RL_FAULT_TEST_HUP_${process.pid}_${Date.now()}`;
    const term = ptySpawn(process.execPath, [bin, 'train', '--preset', preset, '--run-dir', dir, '--progress', 'plain'], {
      cwd: repoRoot,
      cols: 200,
      rows: 40,
      env: { ...process.env, [mark]: '1' } as Record<string, string>,
    });
    try {
      let output = '';
      await new Promise<void>((resolve, reject) => {
        const watchdog = setTimeout(() => reject(new Error(`no env step 400 within 120 s:\n${output.slice(-3000)}`)), 120_000);
        term.onData((data) => {
          output += data;
          if (/\[train\] env step 400\//.test(output)) {
            clearTimeout(watchdog);
            resolve();
          }
        });
        term.onExit(() => reject(new Error(`exited before env step 400:\n${output.slice(-3000)}`)));
      });
      // Closes our end of the terminal: the kernel hangs up the session, and every later write to the terminal fails (EIO).
      // (UnixTerminal has destroy(); node-pty's IPty type leaves it out.)
      (term as typeof term & { destroy(): void }).destroy();
      for (let i = 0; i < 1200 && processesWithMark(mark).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(processesWithMark(mark)).toEqual([]);
      await expectStoppedCleanlyAndResumable(dir);
    } finally {
      for (const pid of processesWithMark(mark)) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('a sweep whose terminal hangs up', () => {
  it('counts a train that stopped on the HUP (exit 129) as interrupted, to resume, not as failed', () => {
    const run = expandSweep(parseSweepFile({ name: 'h', tasks: ['toy-reach'], seeds: [1], aux: ['none'] }), { runsDir: scratch() }).runs[0]!;
    expect(judgeOutcome(run, { exitCode: 129, signal: null, outputTail: '' })).toMatchObject({ state: 'interrupted', reason: 'stopped by SIGHUP' });
    expect(judgeOutcome(run, { exitCode: null, signal: 'SIGHUP', outputTail: '' })).toMatchObject({ state: 'interrupted', reason: 'stopped by SIGHUP' });
  });
});

describe("the README's exit codes", () => {
  it('list every code a command ends with: each error kind and each stop signal (128 + its number)', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('Exit codes:'), readme.indexOf('## Remote environments'));
    const listed = [...table.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    const codes = [0, new CurlRlError('').exitCode, new ConfigError('').exitCode, new BackendUnavailableError('').exitCode, ...stopSignals.map(signalExitCode)];
    expect(listed.sort((a, b) => a - b)).toEqual([...new Set(codes)].sort((a, b) => a - b));
    for (const signal of stopSignals) expect(table).toMatch(new RegExp(`\\| ${signalExitCode(signal)} \\| stopped by ${signal}`));
  });
});

/*
 * A sweep only ever touches folders inside its own: a task name from the
 * sweep file (or a run from a hand-edited Slurm index) that would put a run
 * directory elsewhere is refused with exit 2 before anything is moved or
 * started, whichever way the sweep is run (local, --dry-run, Slurm
 * submission, a Slurm array task), and an --env that is a path reads no file
 * outside the presets folder as a task preset. Every run is validated before any starts,
 * a run folder whose lock a live process holds is never moved, and a sweep
 * that is busy elsewhere exits 2 like a busy run.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runArrayTask } from '../../experiments/sweep/slurm/task.js';
import { expandSweep, parseSweepFile } from '../../experiments/sweep/spec.js';
import { presetsDir } from '../../src/config/resolve.js';
import { processStartTicks } from '../../src/run/lock.js';
import { cliInProcess, killChildrenAfterEach, runCli, scratchRoot } from './helpers.js';

const scratch = scratchRoot('curl-faults-sweep-');
killChildrenAfterEach();
afterEach(() => {
  vi.unstubAllEnvs();
});

/** A tiny toy-reach run: a sweep that gets as far as training finishes in seconds. */
const tiny = {
  backend: 'cpu', imageSize: 16, cropSize: 12, frameStack: 2, actionRepeat: 4, steps: 40, initSteps: 4,
  batchSize: 8, microBatch: 8, replayCapacity: 100, hiddenDim: 16, latentDim: 8, numConvLayers: 2, numFilters: 4,
  evalEvery: 40, evalEpisodes: 1, logEvery: 40, checkpointEvery: 40,
};

/**
 * The traversal of the issue: the sweep file sits three folders down, its
 * task "../../../victim" would make `<runsDir>/<name>/../../../victim-none-s1`
 * the run directory, and a folder of that name exists with a file in it.
 */
function traversal(): { file: string; base: string; victim: string; precious: string } {
  const base = scratch();
  const here = join(base, 'a', 'b', 'c');
  mkdirSync(here, { recursive: true });
  const file = join(here, 'trav.json');
  writeFileSync(file, JSON.stringify({ name: 'trav', tasks: ['../../../victim'], seeds: [1], aux: ['none'], runsDir: 'runs', overrides: tiny }));
  const victim = join(base, 'a', 'b', 'victim-none-s1');
  mkdirSync(victim);
  const precious = join(victim, 'precious.txt');
  writeFileSync(precious, 'not the sweep\'s');
  return { file, base, victim, precious };
}

function expectUntouched(t: { victim: string; precious: string }): void {
  expect(readdirSync(t.victim)).toEqual(['precious.txt']);
  expect(readFileSync(t.precious, 'utf8')).toBe('not the sweep\'s');
}

const refusal = /task "\.\.\/\.\.\/\.\.\/victim".* not a registered environment/;

describe('a task name that would leave the sweep folder', () => {
  it.each([
    ['sweep', ['--parallel', '1']],
    ['sweep --dry-run', ['--dry-run']],
    ['sweep --executor slurm --dry-run', ['--executor', 'slurm', '--dry-run']],
  ])('%s exits 2 naming the task, shows no path outside, and moves nothing', async (_name, flags) => {
    const t = traversal();
    const result = await cliInProcess(['sweep', t.file, ...flags]);
    expect(result.out).toMatch(refusal);
    expect(result.code).toBe(2);
    expect(result.out).not.toContain(t.victim);
    expectUntouched(t);
    // Nothing of the sweep was created either.
    expect(existsSync(join(t.base, 'a', 'b', 'c', 'runs'))).toBe(false);
  });

  it('a sweep name of "." or ".." is refused: it would put the runs beside the runs folder', () => {
    for (const name of ['.', '..']) {
      expect(() => parseSweepFile({ name, tasks: ['toy-reach'], seeds: [1] })).toThrow(/name: .*not "\." or "\.\."/);
    }
  });

  it('the Slurm array task refuses an index entry whose run lies outside the sweep folder, moving nothing and training nothing', async () => {
    const t = traversal();
    const sweepDir = join(t.base, 'a', 'b', 'c', 'runs', 'trav');
    mkdirSync(sweepDir, { recursive: true });
    const entry = { taskId: 0, aux: 'none', seed: 1, overrides: tiny };
    const entries = [
      // what an index written before this check held for the traversal
      { ...entry, id: '../../../victim-none-s1', dir: t.victim, env: '../../../victim' },
      // a registered env whose dir was edited to point elsewhere
      { ...entry, taskId: 1, id: 'toy-reach-none-s1', dir: t.victim, env: 'toy-reach' },
      // overrides that would become train flags choosing another folder
      { ...entry, taskId: 2, id: 'toy-reach-none-s1', dir: join(sweepDir, 'toy-reach-none-s1'), env: 'toy-reach', overrides: { ...tiny, runsDir: t.victim } },
    ];
    const index = join(sweepDir, 'index.json');
    writeFileSync(index, JSON.stringify({ executor: 'slurm', name: 'trav', dir: sweepDir, updatedAt: '', runs: entries, jobs: [] }));
    const trained: string[][] = [];
    const refusals = [
      ['0', /not a registered environment/],
      ['1', /run directory .*victim-none-s1 is not .*trav\/toy-reach-none-s1/],
      ['2', /'runsDir' is set per run by the sweep/],
    ] as const;
    for (const [task, message] of refusals) {
      await expect(
        runArrayTask(index, { env: { SLURM_ARRAY_TASK_ID: task }, log: () => undefined, train: async (args) => (trained.push(args), 0) }),
      ).rejects.toThrow(message);
      expectUntouched(t);
    }
    expect(trained).toEqual([]);
    // and through the CLI, as the sbatch script runs it: exit 2
    vi.stubEnv('SLURM_ARRAY_TASK_ID', '0');
    const result = await cliInProcess(['sweep', 'task', index]);
    expect(result.code).toBe(2);
    expect(result.out).toMatch(/not a registered environment/);
    expectUntouched(t);
  });
});

describe('an --env that is a path', () => {
  it('is not looked up as a task preset outside experiments/presets/, and train refuses it as no registered env', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'elsewhere.json'), JSON.stringify({ lr: 0.5 }));
    const env = relative(presetsDir, join(dir, 'elsewhere'));
    expect(env).toMatch(/^\.\.\//);
    const shown = await cliInProcess(['config', '--env', env, '--json']);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.out.trim().split('\n').at(-1)!)).toMatchObject({ env, lr: 0.001 });
    const trained = await cliInProcess(['train', '--env', env, '--runs-dir', join(dir, 'runs')]);
    expect(trained.out).toMatch(/--env \(env\) = ".*elsewhere" is not a registered environment/);
    expect(trained.code).toBe(2);
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });
});

describe('every run is validated before any starts', () => {
  it('a sweep with one unknown env exits 2 naming it, and starts none of the others', async () => {
    const dir = scratch();
    const file = join(dir, 'mixed.json');
    writeFileSync(file, JSON.stringify({ name: 'mixed', tasks: ['toy-reach', 'no-such-env'], seeds: [1], aux: ['none'], runsDir: 'runs', overrides: tiny }));
    const result = await cliInProcess(['sweep', file, '--parallel', '1']);
    expect(result.out).toMatch(/task "no-such-env".* not a registered environment; allowed: .*toy-reach.*remote/);
    expect(result.code).toBe(2);
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });

  it('expandSweep itself refuses it, and lets a registered env and remote through', () => {
    expect(() => expandSweep(parseSweepFile({ name: 'm', tasks: ['toy-reach', 'nope'], seeds: [1] }), { runsDir: scratch() })).toThrow(/task "nope"/);
    const sweep = expandSweep(parseSweepFile({ name: 'm', tasks: ['toy-reach', { env: 'remote', overrides: { remoteCmd: 'x' } }], seeds: [1], aux: ['none'] }), { runsDir: scratch() });
    expect(sweep.runs.map((r) => r.id)).toEqual(['toy-reach-none-s1', 'remote-none-s1']);
  });
});

describe('a run folder whose lock a live process holds', () => {
  it('is never moved by a Slurm array task either: it exits 2 naming the holder, and trains nothing', async () => {
    const runsDir = scratch();
    const sweep = expandSweep(parseSweepFile({ name: 'held', tasks: ['toy-reach'], seeds: [1], aux: ['none'], overrides: tiny }), { runsDir });
    const run = sweep.runs[0]!;
    // A train that has not checkpointed yet, so the task would start the run afresh and move the folder aside.
    mkdirSync(join(run.dir, 'checkpoints'), { recursive: true });
    writeFileSync(join(run.dir, 'metrics.jsonl'), '');
    const live = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      writeFileSync(join(run.dir, 'lock'), JSON.stringify({ pid: live.pid, host: hostname(), since: '2024-01-01T00:00:00Z', command: 'test', startTicks: processStartTicks(live.pid!) }));
      const index = join(sweep.dir, 'index.json');
      writeFileSync(index, JSON.stringify({ executor: 'slurm', name: sweep.name, dir: sweep.dir, updatedAt: '', jobs: [], runs: [{ taskId: 0, id: run.id, dir: run.dir, env: run.env, aux: run.aux, seed: run.seed, overrides: run.overrides }] }));
      vi.stubEnv('SLURM_ARRAY_TASK_ID', '0');
      const result = await cliInProcess(['sweep', 'task', index]);
      expect(result.out).toMatch(new RegExp(`is being trained by process ${live.pid} .*left in place`));
      expect(result.code).toBe(2);
      expect(readdirSync(run.dir).sort()).toEqual(['checkpoints', 'lock', 'metrics.jsonl']);
      expect(existsSync(join(sweep.dir, '.attempts'))).toBe(false);
    } finally {
      live.kill('SIGKILL');
    }
  });
});

describe('a sweep busy elsewhere', () => {
  /** A `squeue` that reports task 0 of job 77 running, first on PATH. */
  function fakeSqueue(dir: string): NodeJS.ProcessEnv {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'squeue'), '#!/bin/sh\necho "0|77_0|78|RUNNING|node1|None"\n');
    chmodSync(join(bin, 'squeue'), 0o755);
    return { PATH: `${bin}:${process.env.PATH}` };
  }

  it('exits 2 as a busy run does, locally and when submitting again, starting nothing', async () => {
    const dir = scratch();
    const file = join(dir, 'busy.json');
    writeFileSync(file, JSON.stringify({ name: 'busy', tasks: ['toy-reach'], seeds: [1], aux: ['none'], runsDir: 'runs', overrides: tiny }));
    const sweepDir = join(dir, 'runs', 'busy');
    mkdirSync(sweepDir, { recursive: true });
    const run = { taskId: 0, id: 'toy-reach-none-s1', dir: join(sweepDir, 'toy-reach-none-s1'), env: 'toy-reach', aux: 'none', seed: 1, overrides: tiny };
    const job = { jobId: '77', submittedAt: '', script: '', taskIds: [0], array: '0', output: join(sweepDir, 'logs', 'slurm-%A_%a.out') };
    writeFileSync(join(sweepDir, 'index.json'), JSON.stringify({ executor: 'slurm', name: 'busy', dir: sweepDir, updatedAt: '', runs: [run], jobs: [job] }));
    const env = fakeSqueue(dir);
    const local = await runCli(['sweep', file, '--parallel', '1'], { env });
    expect(local.stdout + local.stderr).toMatch(/has Slurm job 77 still queued or running/);
    expect(local.code).toBe(2);
    const again = await runCli(['sweep', file, '--executor', 'slurm'], { env });
    expect(again.stdout + again.stderr).toMatch(/still has job 77 \(1 task\(s\)\) pending or running/);
    expect(again.code).toBe(2);
    expect(existsSync(run.dir)).toBe(false);
  });
});

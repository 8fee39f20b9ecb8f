import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { convWorkerArgs, defaultParallelism, judgeOutcome, runSweep, SweepLockedError, type SweepEvent } from '../../experiments/sweep/runner.js';
import { processSpawner, type TrainSpawner } from '../../experiments/sweep/spawner.js';
import { expandSweep, freshTrainArgs, parseSweepFile, resultsName, resumeTrainArgs, selectRuns } from '../../experiments/sweep/spec.js';
import { buildReport } from '../../experiments/report/report.js';
import { exportRun } from '../../experiments/report/export-run.js';
import { ConfigError } from '../../src/core/errors.js';
import { processStartTicks } from '../../src/run/lock.js';

const fakeTrain = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'fake-train.mjs');

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'sweep-test-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const baseSweep = { name: 'cmp', tasks: ['cartpole-balance', 'pendulum-swingup'], seeds: [1, 2], aux: ['curl', 'none'] };

function fakeSpawner(plan: Record<string, string[]> = {}): { spawn: TrainSpawner; calls: () => Array<{ id: string; args: string[] }> } {
  const planFile = join(tmp, 'plan.json');
  const callsFile = join(tmp, 'calls.jsonl');
  writeFileSync(planFile, JSON.stringify(plan));
  const spawn = processSpawner({
    command: [process.execPath, fakeTrain],
    env: { ...process.env, FAKE_TRAIN_PLAN: planFile, FAKE_TRAIN_CALLS: callsFile },
  });
  const calls = (): Array<{ id: string; args: string[] }> =>
    existsSync(callsFile)
      ? readFileSync(callsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; args: string[] })
      : [];
  return { spawn, calls };
}

describe('sweep expansion', () => {
  it('expands tasks x seeds x aux into deterministic run dirs, task-major', () => {
    const sweep = expandSweep(parseSweepFile(baseSweep), { runsDir: join(tmp, 'runs') });
    expect(sweep.dir).toBe(join(tmp, 'runs', 'cmp'));
    expect(sweep.runs.map((r) => r.id)).toEqual([
      'cartpole-balance-curl-s1', 'cartpole-balance-none-s1', 'cartpole-balance-curl-s2', 'cartpole-balance-none-s2',
      'pendulum-swingup-curl-s1', 'pendulum-swingup-none-s1', 'pendulum-swingup-curl-s2', 'pendulum-swingup-none-s2',
    ]);
    expect(sweep.runs[5]).toMatchObject({ env: 'pendulum-swingup', aux: 'none', seed: 1, dir: join(tmp, 'runs', 'cmp', 'pendulum-swingup-none-s1') });
  });

  it('applies per-task presets and overrides, task entries over sweep-wide ones, and builds train args', () => {
    const file = parseSweepFile({
      name: 'p',
      tasks: ['cartpole-balance', { env: 'reacher-easy', preset: 'reacher-easy-cpu', overrides: { evalEpisodes: 3 } }],
      seeds: [7],
      aux: ['curl'],
      preset: { 'cartpole-balance': 'cartpole-balance-cpu' },
      overrides: { steps: 8000, saveReplay: false },
    });
    const [a, b] = expandSweep(file, { runsDir: join(tmp, 'runs') }).runs;
    expect(a).toMatchObject({ preset: 'cartpole-balance-cpu', overrides: { steps: 8000, saveReplay: false } });
    expect(b).toMatchObject({ preset: 'reacher-easy-cpu', overrides: { steps: 8000, saveReplay: false, evalEpisodes: 3 } });
    expect(freshTrainArgs(a!)).toEqual([
      'train', '--env', 'cartpole-balance', '--aux', 'curl', '--seed', '7', '--run-dir', a!.dir,
      '--progress', 'plain', '--preset', 'cartpole-balance-cpu', '--steps', '8000', '--save-replay', 'false',
    ]);
    expect(resumeTrainArgs(b!)).toEqual(['train', '--resume', b!.dir, '--progress', 'plain']);
  });

  it('resolves preset paths relative to the sweep file', () => {
    const file = parseSweepFile({ ...baseSweep, preset: 'presets/x.json' });
    writeFileSync(join(tmp, 'x.json'), '{}');
    const runs = expandSweep(file, { runsDir: tmp, baseDir: '/somewhere', validate: false }).runs;
    expect(runs[0]!.preset).toBe('/somewhere/presets/x.json');
  });

  it('rejects bad sweep files with the field at fault', () => {
    expect(() => parseSweepFile({ ...baseSweep, seeds: [] })).toThrow(/seeds/);
    expect(() => parseSweepFile({ ...baseSweep, aux: ['moco'] })).toThrow(/aux\.0/);
    expect(() => parseSweepFile({ ...baseSweep, name: 'a/b' })).toThrow(/name.*folder/);
    expect(() => parseSweepFile({ ...baseSweep, overrides: { batchSiz: 3 } })).toThrow(/unknown config field 'batchSiz'/);
    expect(() => parseSweepFile({ ...baseSweep, overrides: { seed: 3 } })).toThrow(/set per run/);
    expect(() => parseSweepFile({ ...baseSweep, extra: 1 })).toThrow(ConfigError);
  });

  it('rejects duplicate runs and invalid resolved configs before anything runs', () => {
    expect(() => expandSweep(parseSweepFile({ ...baseSweep, seeds: [1, 1] }), { runsDir: tmp })).toThrow(/twice/);
    expect(() => expandSweep(parseSweepFile({ ...baseSweep, overrides: { batchSize: 0 } }), { runsDir: tmp })).toThrow(/batchSize/);
    expect(() => expandSweep(parseSweepFile({ ...baseSweep, preset: 'no-such-preset' }), { runsDir: tmp })).toThrow(/Unknown preset/);
  });
});

describe('sweep variants', () => {
  const variantSweep = {
    name: 'v',
    tasks: ['cartpole-swingup'],
    seeds: [1, 2],
    overrides: { aug: 'crop+cutout', steps: 8000 },
    variants: [
      { name: 'curl', aux: 'curl' },
      { name: 'none', aux: 'none' },
      { name: 'pixel-sac', aux: 'none', overrides: { aug: 'none' } },
    ],
  };

  it('names runs after the variant, gives each its aux loss, and lets its overrides win over the sweep\'s', () => {
    const sweep = expandSweep(parseSweepFile(variantSweep), { runsDir: join(tmp, 'runs') });
    expect(sweep.runs.map((r) => r.id)).toEqual([
      'cartpole-swingup-curl-s1', 'cartpole-swingup-none-s1', 'cartpole-swingup-pixel-sac-s1',
      'cartpole-swingup-curl-s2', 'cartpole-swingup-none-s2', 'cartpole-swingup-pixel-sac-s2',
    ]);
    const pixel = sweep.runs[2]!;
    expect(pixel).toMatchObject({ variant: 'pixel-sac', aux: 'none', overrides: { aug: 'none', steps: 8000 } });
    expect(sweep.runs[1]).toMatchObject({ variant: 'none', aux: 'none', overrides: { aug: 'crop+cutout', steps: 8000 } });
    expect(freshTrainArgs(pixel)).toEqual(expect.arrayContaining(['--aux', 'none', '--aug', 'none']));
    expect(resultsName(sweep, pixel)).toBe('pixel-sac-s1');
    // with several tasks, the env keeps results of different tasks apart
    const two = expandSweep(parseSweepFile({ ...variantSweep, tasks: ['cartpole-swingup', 'cartpole-balance'] }), { runsDir: join(tmp, 'runs') });
    expect(resultsName(two, two.runs[0]!)).toBe('cartpole-swingup-curl-s1');
  });

  it('keeps `aux` as the shorthand for variants named after their loss', () => {
    const sweep = expandSweep(parseSweepFile(baseSweep), { runsDir: join(tmp, 'runs') });
    expect(sweep.runs.map((r) => r.variant)).toEqual(sweep.runs.map((r) => r.aux));
    expect(expandSweep(parseSweepFile({ name: 'd', tasks: ['toy-reach'], seeds: [1] }), { runsDir: tmp }).runs.map((r) => r.id)).toEqual([
      'toy-reach-curl-s1', 'toy-reach-none-s1',
    ]);
  });

  it('refuses both aux and variants, repeated or unsafe variant names, per-run fields in a variant, and a variant config that cannot train', () => {
    expect(() => parseSweepFile({ ...variantSweep, aux: ['curl'] })).toThrow(/either 'aux'.*or 'variants', not both/);
    expect(() => parseSweepFile({ ...variantSweep, variants: [{ name: 'a', aux: 'curl' }, { name: 'a', aux: 'none' }] })).toThrow(/variant name\(s\) a repeat/);
    expect(() => parseSweepFile({ ...variantSweep, variants: [{ name: '../x', aux: 'curl' }] })).toThrow(/variants\.0\.name/);
    expect(() => parseSweepFile({ ...variantSweep, variants: [{ name: 'x', aux: 'curl', overrides: { seed: 4 } }] })).toThrow(/set per run/);
    // CURL needs two different views; --aug none gives it the same centre crop twice
    const bad = parseSweepFile({ ...variantSweep, variants: [{ name: 'curl-flat', aux: 'curl', overrides: { aug: 'none' } }] });
    expect(() => expandSweep(bad, { runsDir: tmp })).toThrow(/run cartpole-swingup-curl-flat-s1: .*--aux curl learns by comparing two differently augmented views/s);
  });

  it('--only picks runs by id and names the sweep\'s ids when one is unknown', () => {
    const sweep = expandSweep(parseSweepFile(variantSweep), { runsDir: join(tmp, 'runs') });
    expect(selectRuns(sweep, ['cartpole-swingup-pixel-sac-s2', 'cartpole-swingup-curl-s1']).runs.map((r) => r.id)).toEqual([
      'cartpole-swingup-curl-s1', 'cartpole-swingup-pixel-sac-s2',
    ]);
    expect(() => selectRuns(sweep, ['cartpole-swingup-curl-s9'])).toThrow(/--only cartpole-swingup-curl-s9: not a run of sweep 'v'\. Its runs: cartpole-swingup-curl-s1, /);
  });

  it('runs only the selected runs, keeps the others\' index entries, and exports what a report reads back', async () => {
    const sweep = expandSweep(parseSweepFile({ ...variantSweep, overrides: { steps: 8000 } }), { runsDir: join(tmp, 'runs') });
    const fake = fakeSpawner({ 'cartpole-swingup-none-s1': ['interrupt'] });
    const first = await runSweep(sweep, { parallel: 1, spawn: fake.spawn, only: new Set(['cartpole-swingup-curl-s1', 'cartpole-swingup-none-s1']) });
    expect(fake.calls().map((c) => c.id)).toEqual(['cartpole-swingup-curl-s1', 'cartpole-swingup-none-s1']);
    expect(first.runs.map((r) => [r.id, r.action, r.state])).toEqual([
      ['cartpole-swingup-curl-s1', 'started', 'finished'],
      ['cartpole-swingup-none-s1', 'started', 'interrupted'],
      ['cartpole-swingup-pixel-sac-s1', 'unselected', 'pending'],
      ['cartpole-swingup-curl-s2', 'unselected', 'pending'],
      ['cartpole-swingup-none-s2', 'unselected', 'pending'],
      ['cartpole-swingup-pixel-sac-s2', 'unselected', 'pending'],
    ]);
    const second = await runSweep(sweep, { parallel: 1, spawn: fake.spawn, only: new Set(['cartpole-swingup-pixel-sac-s1']) });
    // the earlier runs keep what the first invocation recorded, with their state as their folders have it
    expect(second.runs.slice(0, 3).map((r) => [r.action, r.state, r.exitCode])).toEqual([
      ['unselected', 'finished', 0], ['unselected', 'interrupted', 130], ['started', 'finished', 0],
    ]);
    expect(second.runs[2]!.variant).toBe('pixel-sac');

    const results = join(tmp, 'results');
    for (const run of [sweep.runs[0]!, sweep.runs[2]!]) exportRun(run.dir, join(results, resultsName(sweep, run)));
    const { summary } = await buildReport(results, { out: join(tmp, 'report'), band: 'std', alignment: 'common' });
    expect(summary.groups.map((g) => [g.variant, g.aux, g.seeds])).toEqual([['curl', 'curl', [1]], ['pixel-sac', 'none', [1]]]);
    // the paper's pixel SAC is the run without augmentation, not --aux none with crops
    expect(summary.groups.map((g) => g.paper?.at100k)).toEqual([582, 419]);
  });
});

describe('work after a finished run', () => {
  it('awaits the hook for every finished run (new or skipped) before the next train starts, and never for an unfinished one', async () => {
    const sweep = expandSweep(parseSweepFile({ ...baseSweep, tasks: ['cartpole-balance'], seeds: [1, 2] }), { runsDir: join(tmp, 'runs') });
    const fake = fakeSpawner({ 'cartpole-balance-none-s1': ['interrupt'] });
    const order: string[] = [];
    const spawn: TrainSpawner = async (launch) => {
      order.push(`train ${launch.run.id}`);
      return fake.spawn(launch);
    };
    const afterFinished = async (run: { id: string }): Promise<void> => {
      order.push(`after ${run.id}`);
      await new Promise((r) => setTimeout(r, 20));
      order.push(`after done ${run.id}`);
    };
    await runSweep(sweep, { parallel: 1, spawn, afterFinished, only: new Set(['cartpole-balance-curl-s1', 'cartpole-balance-none-s1', 'cartpole-balance-curl-s2']) });
    expect(order).toEqual([
      'train cartpole-balance-curl-s1', 'after cartpole-balance-curl-s1', 'after done cartpole-balance-curl-s1',
      'train cartpole-balance-none-s1',
      'train cartpole-balance-curl-s2', 'after cartpole-balance-curl-s2', 'after done cartpole-balance-curl-s2',
    ]);
    order.length = 0;
    await runSweep(sweep, { parallel: 1, spawn, afterFinished, only: new Set(['cartpole-balance-curl-s1', 'cartpole-balance-none-s1']) });
    // the finished run is skipped but still handed to the hook (an export is idempotent); the interrupted one resumes
    expect(order).toEqual([
      'after cartpole-balance-curl-s1', 'after done cartpole-balance-curl-s1',
      'train cartpole-balance-none-s1', 'after cartpole-balance-none-s1', 'after done cartpole-balance-none-s1',
    ]);
  });
});

describe('defaultParallelism', () => {
  it('is bounded by cores and by free memory (3 GiB per run plus 1 GiB spare), at least 1', () => {
    const gib = 1024 ** 3;
    expect(defaultParallelism(2, 23 * gib)).toBe(2);
    expect(defaultParallelism(16, 10 * gib)).toBe(3);
    expect(defaultParallelism(8, 0.5 * gib)).toBe(1);
  });
});

describe('sweep runner with a fake train process', () => {
  it('runs every run, writes status-derived index, and then skips finished runs on a re-run', async () => {
    const sweep = expandSweep(parseSweepFile({ ...baseSweep, tasks: ['cartpole-balance'] }), { runsDir: join(tmp, 'runs') });
    const fake = fakeSpawner();
    const index = await runSweep(sweep, { parallel: 2, spawn: fake.spawn });
    expect(index.counts).toEqual({ finished: 4 });
    expect(index.runs.every((r) => r.action === 'started' && r.exitCode === 0 && r.wallClockSeconds === 40)).toBe(true);
    const onDisk = JSON.parse(readFileSync(join(sweep.dir, 'index.json'), 'utf8')) as typeof index;
    expect(onDisk.runs.map((r) => r.state)).toEqual(['finished', 'finished', 'finished', 'finished']);
    expect(fake.calls()).toHaveLength(4);

    const again = await runSweep(sweep, { parallel: 2, spawn: fake.spawn });
    expect(fake.calls()).toHaveLength(4);
    expect(again.runs.map((r) => r.action)).toEqual(['skipped', 'skipped', 'skipped', 'skipped']);
    expect(again.runs[0]!.processSeconds).toBe(index.runs[0]!.processSeconds);
    // Each invocation is a session; the sweep's wall clock is their sum.
    expect(again.sessions).toHaveLength(2);
    expect(again.elapsedSeconds).toBeCloseTo(again.sessions[0]!.elapsedSeconds! + again.sessions[1]!.elapsedSeconds!, 2);
    expect(existsSync(join(sweep.dir, 'sweep.lock'))).toBe(false);
  });

  it('refuses to run a sweep another live process is running, and takes over a stale lock', async () => {
    const sweep = expandSweep(parseSweepFile({ ...baseSweep, tasks: ['cartpole-balance'], seeds: [1], aux: ['none'] }), { runsDir: join(tmp, 'runs') });
    const fake = fakeSpawner();
    mkdirSync(sweep.dir, { recursive: true });
    const holder = (pid: number): string => JSON.stringify({ pid, host: hostname(), startTicks: processStartTicks(pid), since: '2024-01-01T00:00:00Z', command: 'sweep' });
    writeFileSync(join(sweep.dir, 'sweep.lock'), holder(process.ppid));
    await expect(runSweep(sweep, { parallel: 1, spawn: fake.spawn })).rejects.toThrow(SweepLockedError);
    expect(fake.calls()).toHaveLength(0);
    writeFileSync(join(sweep.dir, 'sweep.lock'), holder(4194303)); // above Linux's pid_max: no such process
    const index = await runSweep(sweep, { parallel: 1, spawn: fake.spawn });
    expect(index.counts).toEqual({ finished: 1 });
  });

  it('resumes an interrupted run from its checkpoint with train --resume', async () => {
    const sweep = expandSweep(parseSweepFile({ ...baseSweep, tasks: ['cartpole-balance'], seeds: [1] }), { runsDir: join(tmp, 'runs') });
    const fake = fakeSpawner({ 'cartpole-balance-curl-s1': ['interrupt'] });
    const first = await runSweep(sweep, { parallel: 1, spawn: fake.spawn });
    expect(first.runs.map((r) => [r.id, r.state, r.exitCode])).toEqual([
      ['cartpole-balance-curl-s1', 'interrupted', 130],
      ['cartpole-balance-none-s1', 'finished', 0],
    ]);
    const second = await runSweep(sweep, { parallel: 1, spawn: fake.spawn });
    expect(second.runs.map((r) => [r.action, r.state])).toEqual([['resumed', 'finished'], ['skipped', 'finished']]);
    const curlCalls = fake.calls().filter((c) => c.id === 'cartpole-balance-curl-s1');
    expect(curlCalls.map((c) => c.args.slice(0, 2))).toEqual([['train', '--env'], ['train', '--resume']]);
    // The resumed run keeps the evaluations of its first part.
    const evals = readFileSync(join(sweep.runs[0]!.dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"eval"'));
    expect(evals).toHaveLength(3);
  });

  it('records a failure with its reason and carries on; a re-run retries it', async () => {
    const sweep = expandSweep(parseSweepFile({ ...baseSweep, aux: ['none'] }), { runsDir: join(tmp, 'runs') });
    const fake = fakeSpawner({
      'cartpole-balance-none-s1': ['fail'],
      'cartpole-balance-none-s2': ['crash'],
      'pendulum-swingup-none-s1': ['badconfig'],
    });
    const index = await runSweep(sweep, { parallel: 2, spawn: fake.spawn });
    const byId = new Map(index.runs.map((r) => [r.id, r]));
    expect(byId.get('cartpole-balance-none-s1')).toMatchObject({ state: 'failed', exitCode: 1, reason: 'exit code 1: NaN in critic loss at agent step 500' });
    expect(byId.get('cartpole-balance-none-s2')).toMatchObject({ state: 'failed', exitCode: 1 });
    expect(byId.get('cartpole-balance-none-s2')!.reason).toMatch(/^exit code 1: Error: wasm memory access out of bounds/);
    expect(byId.get('pendulum-swingup-none-s1')!.reason).toMatch(/^exit code 2 \(bad config\): curl-rl: Invalid configuration/);
    expect(byId.get('pendulum-swingup-none-s2')).toMatchObject({ state: 'finished', exitCode: 0 });
    expect(index.counts).toEqual({ failed: 3, finished: 1 });
    expect(readFileSync(byId.get('cartpole-balance-none-s2')!.log, 'utf8')).toMatch(/wasm memory access/);

    // The second call of each failed run finishes (the plan has one entry). The
    // run that failed with a status but no checkpoint is moved aside and restarted.
    const again = await runSweep(sweep, { parallel: 2, spawn: fake.spawn });
    expect(again.counts).toEqual({ finished: 4 });
    expect(again.runs.map((r) => r.action)).toEqual(['started', 'started', 'started', 'skipped']);
    expect(readdirSync(join(sweep.dir, '.attempts'))[0]).toMatch(/^cartpole-balance-none-s1-/);
  });

  it('never runs more than `parallel` trains at once and stops launching when aborted', async () => {
    const sweep = expandSweep(parseSweepFile({ ...baseSweep, seeds: [1, 2, 3] }), { runsDir: join(tmp, 'runs'), validate: false });
    let active = 0;
    let peak = 0;
    const controller = new AbortController();
    const events: SweepEvent['type'][] = [];
    const spawn: TrainSpawner = async ({ run, signal }) => {
      active += 1;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 5));
      active -= 1;
      mkdirSync(run.dir, { recursive: true });
      if (run.id === 'cartpole-balance-none-s2') controller.abort();
      const state = signal.aborted ? 'interrupted' : 'finished';
      writeFileSync(join(run.dir, 'status.json'), JSON.stringify({ state, agentStep: 1, envStep: 4 }));
      return { exitCode: state === 'finished' ? 0 : 143, signal: null, outputTail: '' };
    };
    const index = await runSweep(sweep, { parallel: 3, spawn, signal: controller.signal, onEvent: (e) => events.push(e.type) });
    expect(peak).toBe(3);
    expect(index.runs.filter((r) => r.action === 'cancelled').length).toBeGreaterThan(0);
    expect(index.runs.filter((r) => r.action === 'cancelled').every((r) => r.state === 'pending')).toBe(true);
    expect(events.filter((e) => e === 'start').length).toBe(events.filter((e) => e === 'end').length);
  });
});

describe('sweep runner robustness', () => {
  it('records a spawner that throws as a failed run and runs the rest', async () => {
    const sweep = expandSweep(parseSweepFile({ ...baseSweep, tasks: ['cartpole-balance'], seeds: [1] }), { runsDir: join(tmp, 'runs') });
    const spawn: TrainSpawner = async ({ run }) => {
      if (run.aux === 'curl') throw new Error('boom');
      mkdirSync(run.dir, { recursive: true });
      writeFileSync(join(run.dir, 'status.json'), JSON.stringify({ state: 'finished', agentStep: 1, envStep: 8 }));
      return { exitCode: 0, signal: null, outputTail: '' };
    };
    const index = await runSweep(sweep, { parallel: 1, spawn });
    expect(index.runs.map((r) => [r.state, r.reason])).toEqual([
      ['failed', 'could not start train: boom'],
      ['finished', undefined],
    ]);
  });
});

describe('judgeOutcome', () => {
  const run = (): ReturnType<typeof expandSweep>['runs'][number] =>
    expandSweep(parseSweepFile({ ...baseSweep, seeds: [1], aux: ['curl'], tasks: ['x'] }), { runsDir: tmp, validate: false }).runs[0]!;

  it('calls a zero exit without a finished status a failure, and a missing program a failure to start', () => {
    expect(judgeOutcome(run(), { exitCode: 0, signal: null, outputTail: '' })).toMatchObject({
      state: 'failed', reason: 'train exited 0 but wrote no readable status.json',
    });
    expect(judgeOutcome(run(), { exitCode: null, signal: null, outputTail: '', spawnError: 'spawn nope ENOENT' })).toMatchObject({
      state: 'failed', reason: 'could not start train: spawn nope ENOENT',
    });
    expect(judgeOutcome(run(), { exitCode: null, signal: 'SIGKILL', outputTail: '' })).toMatchObject({ state: 'failed', reason: 'killed by SIGKILL' });
    expect(judgeOutcome(run(), { exitCode: null, signal: 'SIGTERM', outputTail: '' })).toMatchObject({ state: 'interrupted' });
  });
});

describe('conv workers per run', () => {
  const run = (overrides: Record<string, unknown> = {}) =>
    ({ name: 'r', env: 'toy-reach', aux: 'curl', seed: 1, dir: '/tmp/r', overrides }) as unknown as Parameters<typeof convWorkerArgs>[0];

  it('gives each of the runs side by side its share of the cores, minus the thread the run itself is', () => {
    expect(convWorkerArgs(run(), 2, 2)).toEqual(['--conv-workers', '0']);
    expect(convWorkerArgs(run(), 1, 2)).toEqual(['--conv-workers', '1']);
    expect(convWorkerArgs(run(), 2, 16)).toEqual(['--conv-workers', '7']);
    expect(convWorkerArgs(run(), 3, 2)).toEqual(['--conv-workers', '0']);
  });

  it('leaves a sweep file that sets convWorkers alone', () => {
    expect(convWorkerArgs(run({ convWorkers: 3 }), 2, 2)).toEqual([]);
  });
});

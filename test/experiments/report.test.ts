/*
 * Synthetic runs with known eval returns. Tasks: cartpole-swingup (in the
 * paper's table) and pendulum-swingup (not). Per task and aux, 3 seeds.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRunDirs, loadRun } from '../../experiments/report/load-runs.js';
import { formatDuration, formatStat } from '../../experiments/report/markdown.js';
import { buildReport, type ReportResult } from '../../experiments/report/report.js';
import { parseMetricsText } from '../../experiments/report/run-files.js';
import { eventFiles, readEventFile } from '../../src/run/tensorboard/event-files.js';

interface FakeRun {
  env: string;
  aux: string;
  seed: number;
  evals: Array<[number, number]>;
  wall: number;
  state?: string;
}

function writeRun(root: string, run: FakeRun, extraLines: string[] = []): string {
  const dir = join(root, `${run.env}-${run.aux}-s${run.seed}`);
  mkdirSync(dir, { recursive: true });
  const last = run.evals[run.evals.length - 1]![0];
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ config: { env: run.env, aux: run.aux, seed: run.seed, actionRepeat: 4 }, version: '0.1.0', backend: 'wasm', gitCommit: null, createdAt: '2025-01-01T00:00:00Z' }));
  writeFileSync(join(dir, 'status.json'), JSON.stringify({ state: run.state ?? 'finished', agentStep: last / 4, envStep: last, updatedAt: '2025-01-01T01:00:00Z', wallClockSeconds: run.wall }));
  const lines = run.evals.flatMap(([envStep, mean], k) => [
    // Before updates start the loop logs 0 updates/s: not part of the mean.
    ...(k === 0 ? [JSON.stringify({ type: 'train', agentStep: 0, envStep, wallTime: 0, envStepsPerSec: 900, updatesPerSec: 0 })] : []),
    JSON.stringify({ type: 'train', agentStep: envStep / 4, envStep, wallTime: 1, envStepsPerSec: 50, updatesPerSec: run.aux === 'curl' ? 2 : 4 }),
    JSON.stringify({ type: 'episode', agentStep: envStep / 4, envStep, episode: 1, return: mean, length: 1000, wallTime: 1 }),
    JSON.stringify({ type: 'eval', agentStep: envStep / 4, envStep, mean, std: 3, returns: [mean], wallTime: 1 }),
  ]);
  writeFileSync(join(dir, 'metrics.jsonl'), `${[...lines, ...extraLines].join('\n')}\n`);
  return dir;
}

let root: string;
let out: string;
let result: ReportResult;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'report-test-'));
  const runs = join(root, 'runs', 'sweep-a');
  const steps = [0, 50_000, 100_000];
  for (const [seed, offset] of [[1, 0], [2, 30], [3, 60]] as const) {
    writeRun(runs, { env: 'cartpole-swingup', aux: 'curl', seed, evals: steps.map((s, k) => [s, 100 * k + offset]), wall: 1000 });
    // none: a flatter curve, seed 3 one eval further along (dropped by the 'common' alignment).
    const noneSteps = seed === 3 ? [...steps, 150_000] : steps;
    writeRun(runs, { env: 'cartpole-swingup', aux: 'none', seed, evals: noneSteps.map((s, k) => [s, 50 * k + offset]), wall: 500 });
    writeRun(runs, { env: 'pendulum-swingup', aux: 'curl', seed, evals: [[0, seed], [20_000, 10 * seed]], wall: 600 });
    writeRun(runs, { env: 'pendulum-swingup', aux: 'none', seed, evals: [[0, seed], [20_000, 5 * seed]], wall: 300, state: seed === 3 ? 'running' : 'finished' });
  }
  // Not runs: a sweep's moved-aside attempt and a folder without metrics.
  writeRun(join(root, 'runs', 'sweep-a', '.attempts'), { env: 'cartpole-swingup', aux: 'curl', seed: 9, evals: [[0, 1e6]], wall: 1 });
  mkdirSync(join(root, 'runs', 'other'), { recursive: true });
  writeFileSync(join(root, 'runs', 'other', 'config.json'), '{}');
  // A run killed mid-write: its last line is truncated.
  appendFileSync(join(runs, 'pendulum-swingup-none-s3', 'metrics.jsonl'), '{"type":"eval","agentSt');
  // The sweep's index: one more run that failed before writing metrics.
  const indexRuns = [
    { id: 'cartpole-swingup-curl-s1', state: 'finished' },
    { id: 'walker-walk-curl-s1', state: 'failed', reason: 'exit code 1: out of memory' },
    { id: 'walker-walk-none-s1', state: 'pending' },
  ];
  writeFileSync(join(runs, 'index.json'), JSON.stringify({ name: 'sweep-a', elapsedSeconds: 3725, runs: indexRuns }));
  out = join(root, 'report');
  result = await buildReport(join(root, 'runs'), { out });
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('run discovery', () => {
  it('finds run dirs recursively, skipping dot folders and dirs without metrics', () => {
    const dirs = findRunDirs(join(root, 'runs'));
    expect(dirs).toHaveLength(12);
    expect(dirs.some((d) => d.includes('.attempts'))).toBe(false);
  });

  it('tolerates a truncated last metrics line and counts it', () => {
    const run = loadRun(join(root, 'runs', 'sweep-a', 'pendulum-swingup-none-s3'))!;
    expect(run.skippedLines).toBe(1);
    expect(run.evals).toEqual([{ envStep: 0, value: 3 }, { envStep: 20_000, value: 15 }]);
    expect(run.state).toBe('running');
    expect(run.envStepsPerSec).toBeCloseTo(20_000 / 300, 10);
    expect(run.updatesPerSec).toBe(4);
    expect(parseMetricsText('not json\n[1]\n{"type":"eval"}\n').skippedLines).toBe(3);
  });
});

describe('report aggregation', () => {
  it('groups by task and variant, curl before none, with known means and bands', () => {
    const g = result.summary.groups;
    expect(g.map((x) => `${x.env}/${x.aux}`)).toEqual(['cartpole-swingup/curl', 'cartpole-swingup/none', 'pendulum-swingup/curl', 'pendulum-swingup/none']);
    const curl = g[0]!;
    // offsets 0, 30, 60: mean offset 30, sample std 30 at every step.
    expect(curl.curve.map((p) => [p.envStep, p.mean, p.std, p.lo, p.hi])).toEqual([
      [0, 30, 30, 0, 60],
      [50_000, 130, 30, 100, 160],
      [100_000, 230, 30, 200, 260],
    ]);
    expect(curl.final).toMatchObject({ mean: 230, std: 30, n: 3, minStep: 100_000, maxStep: 100_000 });
    // first evals 0, 30, 60; last-3 means (0 + 100 + 200) / 3 + offset = 100, 130, 160
    expect(curl.initial).toEqual({ mean: 30, std: 30, n: 3 });
    expect(curl.lastK).toEqual({ mean: 130, std: 30, n: 3 });
    expect(curl.at100k).toEqual({ mean: 230, std: 30, n: 3 });
    expect(curl.at500k).toBeUndefined();
    expect(curl.paper).toEqual({ at100k: 582, at500k: 841, std100k: 146 });
    // --aux none keeps its random crops: not the paper's pixel SAC (that is --aug none too, the variant pixel-sac)
    expect(g[1]!.paper).toBeUndefined();

    const none = g[1]!;
    expect(none.curve.map((p) => p.envStep)).toEqual([0, 50_000, 100_000]);
    expect(none.droppedPoints).toBe(1);
    // finals: seeds 1, 2 at 100k (100, 130); seed 3 at 150k (150 + 60 = 210).
    expect(none.final).toMatchObject({ n: 3, minStep: 100_000, maxStep: 150_000 });
    expect(none.final.mean).toBeCloseTo((100 + 130 + 210) / 3, 10);
    expect(none.at100k).toEqual({ mean: 130, std: 30, n: 3 });
    // last 3 evals per seed: (0 + 50 + 100) / 3 = 50, then 80, and seed 3's (50 + 100 + 150) / 3 + 60 = 160
    expect(none.lastK.mean).toBeCloseTo(290 / 3, 10);
    expect(none.lastK.std).toBeCloseTo(Math.sqrt(((50 - 290 / 3) ** 2 + (80 - 290 / 3) ** 2 + (160 - 290 / 3) ** 2) / 2), 10);

    const pendulum = g[2]!;
    expect(pendulum.paper).toBeUndefined();
    expect(pendulum.final).toMatchObject({ mean: 20, std: 10, n: 3 });
    // only two evals per run: their mean, 5.5 x seed
    expect(pendulum.lastK).toEqual({ mean: 11, std: 5.5, n: 3 });
  });

  it('writes a markdown table with the paper numbers, dashes where a step was not reached, and per-run rates', () => {
    const md = readFileSync(result.files.markdown, 'utf8');
    expect(md).toContain('| cartpole-swingup | curl | 3 | 30.0 ± 30.0 | 100k | 230.0 ± 30.0 | 130.0 ± 30.0 | 230.0 ± 30.0 | 582 | — | 841 |');
    expect(md).toContain('| cartpole-swingup | none | 3 | 30.0 ± 30.0 | 100k–150k | 146.7 ± 56.9 | 96.7 ± 56.9 | 130.0 ± 30.0 | — | — | — |');
    expect(md).toContain('| pendulum-swingup | curl | 3 | 2.0 ± 1.0 | 20k | 20.0 ± 10.0 | 11.0 ± 5.5 | — | — | — | — |');
    expect(md).toContain('| sweep-a/pendulum-swingup-none-s3 | pendulum-swingup | none | 3 | running | 20000 | 66.7 | 4.00 | 5m 00s |');
    expect(md).toContain('![learning curves](curves.png)');
    expect(md).toMatch(/1 unreadable line\(s\) in metrics.jsonl skipped/);
    expect(md).toMatch(/cartpole-swingup\/none: 1 eval point\(s\) not shared by all seeds/);
    expect(md).toContain('Total training wall clock over all runs: 2h 00m');
    expect(md).toContain('| sweep-a | sweep-a/index.json | 3 | 1 | 1 | 1 | 1h 02m |');
    expect(md).toContain('- sweep-a/walker-walk-curl-s1: exit code 1: out of memory');
  });

  it('writes a JSON summary that parses back', () => {
    const json = JSON.parse(readFileSync(result.files.json, 'utf8')) as typeof result.summary;
    expect(json.groups).toHaveLength(4);
    expect(json.runs).toHaveLength(12);
    expect(json.band).toBe('std');
  });

  it('produces non-empty SVG and PNG plots', () => {
    const svg = readFileSync(result.files.svg, 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('cartpole-swingup');
    expect(svg).toContain('pendulum-swingup');
    const png = readFileSync(result.files.png);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(statSync(result.files.png).size).toBeGreaterThan(5000);
  });

  it('fails clearly when there are no runs', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await expect(buildReport(empty, { out: join(root, 'o2') })).rejects.toThrow(/No run directories under .*config.json and metrics.jsonl/);
  });
});

describe('report curves in TensorBoard', () => {
  it('writes one event file per task and aux with the mean and band at each curve step, replaced when the report is written again', async () => {
    const dir = join(out, 'tb', 'cartpole-swingup', 'curl');
    expect(result.files.tensorboard).toBe(join(out, 'tb'));
    const read = () => eventFiles(dir).flatMap((name) => readEventFile(join(dir, name)));
    expect(eventFiles(dir)).toHaveLength(1);
    const scalars = read().flatMap((e) => (e.summary?.value ?? []).filter((v) => v.simpleValue !== undefined).map((v) => [v.tag, e.step, v.simpleValue]));
    expect(scalars).toEqual(result.summary.groups[0]!.curve.flatMap((p) => [
      ['eval/return_mean', p.envStep, Math.fround(p.mean)],
      ['eval/return_lower', p.envStep, Math.fround(p.lo)],
      ['eval/return_upper', p.envStep, Math.fround(p.hi)],
      ['eval/seeds', p.envStep, p.n],
    ]));
    for (const group of ['cartpole-swingup/none', 'pendulum-swingup/curl', 'pendulum-swingup/none']) expect(eventFiles(join(out, 'tb', group))).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1100)); // a new second, so the new file has a new name
    await buildReport(join(root, 'runs'), { out });
    expect(eventFiles(dir)).toHaveLength(1);
    expect(read().filter((e) => e.summary?.value.some((v) => v.tag === 'eval/return_mean'))).toHaveLength(3);
  });
});

describe('formatting', () => {
  it('formats stats and durations', () => {
    expect(formatStat({ mean: 1.25, std: 0.5, n: 2 })).toBe('1.3 ± 0.5');
    expect(formatStat({ mean: 7, std: 0, n: 1 })).toBe('7.0');
    expect(formatStat({ mean: 7, std: 1, n: 2 }, 3)).toBe('7.0 ± 1.0 (2/3 seeds)');
    expect(formatStat(undefined)).toBe('—');
    expect(formatDuration(3725)).toBe('1h 02m');
    expect(formatDuration(65)).toBe('1m 05s');
  });
});

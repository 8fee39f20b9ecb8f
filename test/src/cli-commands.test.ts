import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';
import { addonPath, loadConvAddon } from '../../agents/native/addon.js';
import { main } from '../../src/cli/main.js';
import { tinyConfig } from '../loop/helpers.js';

/** Runs the CLI in this process; what it printed, split into stdout lines and stderr text. */
async function cli(args: string[]): Promise<{ code: number; lines: string[]; stderr: string }> {
  const lines: string[] = [];
  const errors: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errors.push(a.join(' ')));
  try {
    const code = await main(args);
    return { code, lines, stderr: errors.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/** Every line is one JSON object; returns them. */
function jsonLines(lines: string[]): Array<Record<string, unknown>> {
  expect(lines.length).toBeGreaterThan(0);
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

const num = expect.any(Number);

describe('curl-rl info', () => {
  it('--json reports the chosen backend, every probe, the conv engine and the machine', async () => {
    const { code, lines } = await cli(['info', '--backend', 'cpu', '--json']);
    expect(code).toBe(0);
    expect(lines).toHaveLength(1);
    const info = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(info).toEqual({
      backend: 'cpu',
      requested: 'cpu',
      backends: ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'].map((name) => ({ name, available: expect.any(Boolean), reason: expect.any(String) })),
      // the addon's libtorch where it loads, null where there is none
      convEngine: { engine: expect.stringMatching(/^(tfjs|libtorch)$/), reason: expect.any(String), threads: num, libtorch: loadConvAddon().available ? expect.any(Object) : null },
      tfjsVersion: tf.version.tfjs,
      nodeVersion: process.version,
      cpus: os.cpus().length,
      totalMemoryBytes: os.totalmem(),
    });
    const backends = info['backends'] as Array<{ name: string; available: boolean }>;
    expect(backends.find((b) => b.name === 'cpu')?.available).toBe(true);
    expect(backends.find((b) => b.name === 'wasm')?.available).toBe(true);
    const engine = info['convEngine'] as { engine: string; threads: number; libtorch: unknown };
    expect(engine.threads).toBeGreaterThanOrEqual(1);
    if (engine.engine === 'libtorch') {
      expect(engine.libtorch).toEqual({
        version: expect.stringMatching(/^\d+\.\d+/),
        onednn: expect.any(Boolean),
        bf16: expect.stringMatching(/^(native|emulated|unsupported)$/),
        bf16Why: expect.any(String),
        addon: expect.stringMatching(/curl_conv\.node$/),
        // build.mjs records the libtorch it chose (the one it reports) and every one it found
        build: expect.objectContaining({ source: expect.any(String), reason: expect.any(String), candidates: expect.any(Array) }),
      });
      const { version, build } = engine.libtorch as { version: string; build: { version: string; candidates: unknown[] } };
      expect(build.version).toBe(version);
      expect(build.candidates.length).toBeGreaterThanOrEqual(1);
    }

    const wasm = JSON.parse((await cli(['info', '--backend', 'wasm', '--json'])).lines[0]!) as Record<string, unknown>;
    expect(wasm).toMatchObject({ backend: 'wasm', requested: 'wasm', wasm: { simd: expect.any(Boolean), threads: expect.any(Boolean) } });
  });

  it('prints the same facts as text, and refuses an unknown backend with exit 2', async () => {
    const { code, lines } = await cli(['info', '--backend', 'cpu']);
    expect(code).toBe(0);
    expect(lines[0]).toBe('backend: cpu (requested cpu)');
    expect(lines.filter((l) => /^ {2}[✓✗] /.test(l))).toHaveLength(4);
    expect(lines.join('\n')).toMatch(new RegExp(`conv engine: (tfjs|libtorch) on \\d+ thread\\(s\\)`));
    if (lines.some((l) => l.startsWith('conv engine: libtorch'))) {
      expect(lines.join('\n')).toMatch(/ {2}libtorch \d+\.\d+\.\d+ \(oneDNN (yes|no)\), bf16 (native|emulated|unsupported) \(.*\): .*curl_conv\.node\n {2}built against .*: (named by|the only|the newest)/);
    }
    expect(lines.at(-1)).toBe(`tfjs ${tf.version.tfjs}, node ${process.version}, ${os.cpus().length} CPUs`);
    const bad = await cli(['info', '--backend', 'tpu']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--backend = "tpu" is invalid; allowed: one of auto, tensorflow-gpu, tensorflow, wasm, cpu/);
  });
});

describe('curl-rl bench, each benchmark at its smallest size', () => {
  // bad flags and unknown names (exit 2, the message, --help) are test/faults/bench-flags.test.ts's

  it('env: render frames/s and physics steps/s per task, and random-policy returns', async () => {
    const r = await cli(['bench', 'env', '--tasks', 'cartpole-swingup,pendulum-swingup', '--sizes', '8,12', '--seconds', '0.02']);
    expect(r.code).toBe(0);
    const rows = jsonLines(r.lines);
    const render = { bench: 'env', metric: 'render_fps', value: num, frames: num, loadavg1: num };
    const physics = { bench: 'env', metric: 'physics_steps_per_s', value: num, controlStepsPerS: num, substeps: num, loadavg1: num };
    expect(rows).toEqual([
      { ...render, task: 'cartpole-swingup', size: 8 },
      { ...physics, task: 'cartpole-swingup' },
      { ...render, task: 'cartpole-swingup', size: 12 },
      { ...render, task: 'pendulum-swingup', size: 8 },
      { ...physics, task: 'pendulum-swingup' },
      { ...render, task: 'pendulum-swingup', size: 12 },
    ]);
    for (const row of rows) expect(row['value']).toBeGreaterThan(0);

    const returns = jsonLines((await cli(['bench', 'env', '--tasks', 'cartpole-swingup', '--random-returns', '1'])).lines);
    expect(returns).toEqual([{ bench: 'env', task: 'cartpole-swingup', metric: 'random_return', episodes: 1, mean: num, std: 0, min: num, max: num, loadavg1: num }]);
    // one episode: its return is the mean, min and max, and a 1000-step episode of rewards in [0, 1] sums into [0, 1000]
    const [row] = returns as Array<{ mean: number; min: number; max: number }>;
    expect([row!.min, row!.max]).toEqual([row!.mean, row!.mean]);
    expect(row!.mean).toBeGreaterThan(0);
    expect(row!.mean).toBeLessThan(1000);

  });

  it('render: frames/s per task and size', async () => {
    const r = await cli(['bench', 'render', '--tasks', 'cartpole-swingup', '--sizes', '6,8', '--frames', '2']);
    expect(r.code).toBe(0);
    const row = { bench: 'render', task: 'cartpole-swingup', shadows: true, frames: 2, framesPerSec: num, msPerFrame: num, cpuFramesPerSec: num, loadAvg1: num, ngeom: num };
    expect(jsonLines(r.lines)).toEqual([
      { ...row, width: 6, height: 6 },
      { ...row, width: 8, height: 8 },
    ]);
  });

  it('replay: memory per transition, sampling, save and load, and leaves no file behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'curl-bench-replay-'));
    const r = await cli(['bench', 'replay', '--json', '--capacity', '40', '--image-size', '8', '--crop-size', '6', '--frame-stack', '3', '--action-dim', '2',
      '--episode-length', '5', '--io-transitions', '30', '--sample-transitions', '20', '--repeats', '1', '--dir', dir]);
    expect(r.code).toBe(0);
    const rows = jsonLines(r.lines);
    expect(rows.map((x) => x['measure'])).toEqual(['memory', 'sample', 'sample-into', 'sample', 'sample-into', 'save', 'load']);
    expect(rows[0]).toEqual({
      bench: 'replay', measure: 'memory', capacity: 40, imageSize: 8, frameStack: 3, actionDim: 2,
      bytesPerTransition: num, totalBytes: num, totalGiB: num, referenceBytesPerTransition: 2 * 3 * 8 * 8 * 3,
    });
    // each frame is stored once: at least one 8x8x3 frame per transition, well under the reference's two stacks
    expect(rows[0]!['bytesPerTransition']).toBeGreaterThanOrEqual(8 * 8 * 3);
    expect(rows[0]!['bytesPerTransition']).toBeLessThan(2 * 3 * 8 * 8 * 3);
    expect(rows.slice(1, 5).map((x) => x['batchSize'])).toEqual([128, 128, 512, 512]);
    for (const row of rows.slice(1, 5)) {
      expect(row).toEqual({ bench: 'replay', measure: row['measure'], transitionsStored: 20, batchSize: row['batchSize'], cropSize: 6, frameStack: 3, aug: 'crop', views: 3, medianMs: num, minMs: num, maxMs: num, repeats: 1 });
    }
    expect(rows[5]).toEqual({ bench: 'replay', measure: 'save', transitions: 30, fileMB: num, ms: num, MBps: num });
    expect(rows[6]).toEqual({ bench: 'replay', measure: 'load', transitions: 30, fileMB: rows[5]!['fileMB'], ms: num, MBps: num, note: expect.any(String) });
    expect(rows[5]!['fileMB']).toBeGreaterThan((30 * 8 * 8 * 3) / 1e6);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('adam: a step with fresh moments and with a late run\'s subnormal ones, which the first step flushes', async () => {
    const engines = loadConvAddon().available ? ['libtorch', 'tfjs-wasm'] : ['tfjs-wasm'];
    const r = await cli(['bench', 'adam', '--json', '--params', '3000', '--dead', '0.5', '--repeats', '1', '--threads', '1', '--backend', 'wasm']);
    expect(r.code).toBe(0);
    const rows = jsonLines(r.lines).filter((x) => !('skipped' in x));
    expect(rows.map((x) => [x['engine'], x['moments']])).toEqual(engines.flatMap((e) => [[e, 'fresh'], [e, 'late']]));
    for (const row of rows) {
      expect(row).toEqual({
        bench: 'adam', engine: row['engine'], threads: 1, moments: row['moments'], params: 3000,
        deadFraction: row['moments'] === 'late' ? 0.5 : 0, firstStepMs: num, medianMs: num, minMs: num, subnormalMomentsAfterFirstStep: 0, repeats: 1,
      });
    }
  });

  it('remote: steps/s in process and through the channel, per frame kind and transport', async () => {
    const r = await cli(['bench', 'remote', '--size', '4', '--steps', '3', '--warmup', '0', '--frames', 'both', '--local-transport', 'both']);
    expect(r.code).toBe(0);
    const rows = jsonLines(r.lines);
    expect(rows.map((x) => [x['frames'], x['localTransport']])).toEqual([
      ['noise', true],
      ['noise', false],
      ['rendered', true],
      ['rendered', false],
    ]);
    for (const row of rows) {
      expect(row).toEqual({
        bench: 'remote', frame: [4, 4, 3], frames: row['frames'], compress: true, localTransport: row['localTransport'], steps: 3,
        inProcessStepsPerSec: num, remoteStepsPerSec: num, inProcessMsPerStep: num, remoteMsPerStep: num, channelOverheadMsPerStep: num,
        targetOverheadMs: 0.2, ptyFloorMsPerStep: num, ptySmallFloorMsPerStep: num, protocolMsPerStep: num,
        ...(row['localTransport'] ? { pipeFloorMsPerStep: num } : {}),
        loadavg1: num, cpus: os.cpus().length,
      });
    }
  });

  it('update: one line per aux with the median time, FLOPs and throughput', async () => {
    const r = await cli(['bench', 'update', '--batch-size', '2', '--aux', 'both', '--iters', '1', '--warmup', '0', '--conv-workers', '0']);
    expect(r.code, r.stderr).toBe(0);
    const rows = jsonLines(r.lines);
    expect(rows.map((x) => x['aux'])).toEqual(['curl', 'none']);
    for (const row of rows) {
      expect(row).toEqual({
        bench: 'update', backend: expect.any(String), convEngine: expect.stringMatching(/^(tfjs|libtorch)$/), precision: 'fp32', heads: row['convEngine'], aux: row['aux'], batchSize: 2, augK: 1, augM: 1, microBatch: num,
        convWorkers: 0, threads: num, iters: 1, medianMs: num, minMs: num, gflopPerUpdate: num, convGflopPerUpdate: num, gflops: num, stageMeanMs: expect.any(Object),
      });
      expect(row['gflopPerUpdate']).toBeGreaterThan(0);
    }
    // CURL adds the key encoder's pass and the contrastive head: more work per update than SAC alone
    expect(rows[0]!['gflopPerUpdate']).toBeGreaterThan(rows[1]!['gflopPerUpdate'] as number);
  });

  it.runIf(loadConvAddon().available)('update --breakdown: each stage split into addon and JS-thread time, and the addon calls of an update', async () => {
    const r = await cli(['bench', 'update', '--batch-size', '2', '--aux', 'curl', '--iters', '2', '--warmup', '0', '--conv-engine', 'libtorch', '--heads', 'libtorch', '--breakdown']);
    expect(r.code, r.stderr).toBe(0);
    const [row] = jsonLines(r.lines);
    const { stages, calls } = row!['breakdown'] as { stages: Record<string, { ms: number; nativeMs: number; jsOnlyMs: number }>; calls: Record<string, { calls: number; ms: number }> };
    expect(Object.keys(stages)).toEqual([...Object.keys(row!['stageMeanMs'] as object), 'finish']);
    for (const s of Object.values(stages)) {
      expect(s.nativeMs).toBeGreaterThanOrEqual(0);
      expect(Math.abs(s.nativeMs + s.jsOnlyMs - s.ms)).toBeLessThanOrEqual(0.11);
    }
    // the stages and 'finish' tile the update
    expect(Object.values(stages).reduce((a, s) => a + s.ms, 0)).toBeGreaterThanOrEqual((row!['minMs'] as number) - 0.5);
    // means over 2 updates, one with the actor step (actor update frequency 2): forward passes for the target (2),
    // the anchor, the keys, and the actor's; backward for the critic, CURL, and the actor's head (its convs detached)
    expect(calls['conv.forward']!.calls).toBe(4.5);
    expect(calls['conv.backward']!.calls).toBe(2.5);
    expect(calls['heads.mlpForward']!.calls).toBeGreaterThan(0);
    expect(calls['heads.adamStep']!.calls).toBeGreaterThan(0);
  });

  it('train: the whole loop after the random steps, with the time of a step split by phase', async () => {
    const r = await cli(['bench', 'train', '--env', 'toy-reach', '--preset', 'toy-reach-cpu', '--updates', '3', '--warmup', '1', '--conv-workers', '0']);
    expect(r.code, r.stderr).toBe(0);
    const [row] = jsonLines(r.lines);
    expect(row).toEqual({
      bench: 'train', env: 'toy-reach', preset: 'toy-reach-cpu', aux: 'curl', backend: expect.any(String),
      convEngine: expect.stringMatching(/^(tfjs|libtorch)$/), precision: 'fp32', threads: 1, batchSize: 32, updates: 3, agentSteps: 3,
      updatesPerSec: num, stepMs: { update: num, act: num, env: num, replay: num, other: num, total: num },
      outsideUpdateShare: num, loadavg1: num,
    });
    const ms = row!['stepMs'] as Record<string, number>;
    // the phases and the rest add up to the whole step (each figure rounded to 0.1 ms)
    expect(Math.abs(ms['update']! + ms['act']! + ms['env']! + ms['replay']! + ms['other']! - ms['total']!)).toBeLessThan(0.3);
    expect(ms['update']).toBeGreaterThan(0);
  });

  it.runIf(loadConvAddon().available)('trunk: one line per libtorch build and precision, each build timed in a process of its own', async () => {
    const r = await cli(['bench', 'trunk', '--batch-size', '2', '--iters', '1', '--warmup', '0']);
    expect(r.code, r.stderr).toBe(0);
    const row = (precision: string) => ({
      bench: 'trunk', torchVersion: expect.stringMatching(/^\d+\.\d+\.\d+$/), bf16: expect.stringMatching(/^(native|emulated)$/), addon: addonPath(), precision,
      firstFilterGradient: precision === 'fp32' ? 'fp32' : expect.stringMatching(/^(fp32|bf16)$/),
      batchSize: 2, threads: num, iters: 1, medianMs: num, minMs: num, forwardMs: num, backwardMs: num, gflopPerPass: num, gflops: num, loadavg1: num,
    });
    expect(jsonLines(r.lines)).toEqual([row('fp32'), row('bf16')]);
    // two builds named (here the same one twice): each in its child process, in the order given
    const twice = await cli(['bench', 'trunk', '--batch-size', '2', '--iters', '1', '--warmup', '0', '--precision', 'bf16', '--addon', `${addonPath()},${addonPath()}`]);
    expect(twice.code, twice.stderr).toBe(0);
    expect(jsonLines(twice.lines)).toEqual([row('bf16'), row('bf16')]);
  });

  it.runIf(loadConvAddon().available)('trunk --compare-pytorch: PyTorch\'s lines after ours, then ours against it and each one\'s bf16 against its fp32', async () => {
    // a stand-in for a python3 with torch: it imports "torch", records its arguments and prints fixed timings
    const dir = mkdtempSync(join(tmpdir(), 'curl-bench-trunk-'));
    const python = join(dir, 'python3');
    writeFileSync(python, [
      '#!/bin/sh',
      'if [ "$1" = "-c" ]; then exit 0; fi',
      `echo "$@" > ${join(dir, 'args')}`,
      'echo \'{"bench": "trunk-pytorch", "torch": "9.9.9", "precision": "fp32", "batchSize": 2, "medianMs": 200.0}\'',
      'echo \'{"bench": "trunk-pytorch", "torch": "9.9.9", "precision": "bf16", "batchSize": 2, "medianMs": 50.0}\'',
    ].join('\n'), { mode: 0o755 });
    const saved = process.env.PYTHON;
    process.env.PYTHON = python;
    try {
      const r = await cli(['bench', 'trunk', '--batch-size', '2', '--iters', '1', '--warmup', '0', '--threads', '1', '--compare-pytorch']);
      expect(r.code, r.stderr).toBe(0);
      const rows = jsonLines(r.lines);
      expect(rows.map((l) => l['bench'])).toEqual(['trunk', 'trunk', 'trunk-pytorch', 'trunk-pytorch', 'trunk-ratio', 'trunk-ratio', 'trunk-ratio', 'trunk-ratio']);
      expect(readFileSync(join(dir, 'args'), 'utf8')).toMatch(/pytorch_trunk\.py --batch-size 2 --precision fp32,bf16 --iters 1 --warmup 0 --threads 1\n$/);
      const [oursFp32, oursBf16] = [rows[0]!['medianMs'] as number, rows[1]!['medianMs'] as number];
      const round = (x: number) => Math.round(x * 100) / 100;
      expect(rows.slice(4)).toEqual([
        { bench: 'trunk-ratio', of: 'ours / pytorch', addon: addonPath(), precision: 'fp32', ratio: round(oursFp32 / 200) },
        { bench: 'trunk-ratio', of: 'ours / pytorch', addon: addonPath(), precision: 'bf16', ratio: round(oursBf16 / 50) },
        { bench: 'trunk-ratio', of: 'bf16 / fp32', impl: addonPath(), ratio: round(oursBf16 / oursFp32) },
        { bench: 'trunk-ratio', of: 'bf16 / fp32', impl: 'pytorch 9.9.9', ratio: 0.25 },
      ]);
      // PYTHON without torch: the bench falls back to the PATH's python3, then the system's; where neither
      // imports torch (CI), the error says which flag needs it and where it looked
      writeFileSync(python, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
      const none = await cli(['bench', 'trunk', '--batch-size', '2', '--iters', '1', '--warmup', '0', '--precision', 'fp32', '--compare-pytorch']);
      const fallback = ['python3', '/usr/bin/python3'].some((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
      if (fallback) {
        expect(none.code, none.stderr).toBe(0);
        expect(jsonLines(none.lines).find((l) => l['bench'] === 'trunk-pytorch')?.['torch']).not.toBe('9.9.9');
      } else {
        expect(none.code).not.toBe(0);
        expect(none.stderr).toContain(`bench trunk --compare-pytorch: no python3 with torch among ${python}`);
      }
    } finally {
      if (saved === undefined) delete process.env.PYTHON;
      else process.env.PYTHON = saved;
    }
  });

  it('start: the preset run once per seed, first and final evaluation, and whether the final is clearly above', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'curl-bench-start-'));
    const preset = join(dir, 'tiny.json');
    writeFileSync(preset, JSON.stringify({ ...tinyConfig({ steps: 40 * 4, evalEvery: 20 * 4, initSteps: 20 }), runsDir: dir }));
    const r = await cli(['bench', 'start', '--preset', preset, '--seeds', '4,5']);
    expect(r.code, r.stderr).toBe(0);
    const rows = jsonLines(r.lines);
    const evalPoint = { envStep: num, mean: num, std: num };
    const seedRow = (seed: number) => ({
      bench: 'start', preset, env: 'toy-reach', aux: 'curl', seed, first: { ...evalPoint, envStep: 0 }, final: { ...evalPoint, envStep: 160 },
      clearlyAbove: expect.any(Boolean), evals: [[0, num], [80, num], [160, num]], wallClockSeconds: num, trainingSeconds: num,
      convEngine: expect.any(String), load: [num, num, num],
    });
    expect(rows).toEqual([seedRow(4), seedRow(5), { bench: 'start', preset, seeds: [4, 5], allClearlyAbove: expect.any(Boolean), meanWallClockSeconds: num }]);
    expect(rows[2]!['allClearlyAbove']).toBe(rows[0]!['clearlyAbove'] && rows[1]!['clearlyAbove']);
    // the runs went into a temporary folder of the benchmark's, removed at the end
    expect(readdirSync(dir)).toEqual(['tiny.json']);
  });
});

describe('curl-rl eval flag validation', () => {
  it.each([
    [['--episodes', '0'], /--episodes = 0 is out of range; allowed: an integer from 1 to \d+ \(/],
    [['--episodes', 'abc'], /--episodes = "abc" is not a whole number written in decimal digits \(like 100000\); allowed: an integer from 1 to \d+/],
    [['--episodes', '1.5'], /--episodes = "1\.5" is not a whole number/],
    [['--episodes', '1e3'], /--episodes = "1e3" is not a whole number/],
    [['--episodes', ''], /--episodes = "" is not a whole number/],
    [['--seed', '-1'], /--seed = -1 is out of range; allowed: an integer from 0 to \d+/],
    [['--seed', 'x7'], /--seed = "x7" is not a whole number/],
  ])('%j is exit 2 with a message saying what is allowed, before the run is looked at', async (flags, message) => {
    // the run directory does not exist: the flags are refused first
    const r = await cli(['eval', join(tmpdir(), 'no-such-run'), ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/no-such-run/);
    expect(r.lines).toEqual([]);
  });

  it('a missing run directory and a missing argument are exit 2 too', async () => {
    const missing = await cli(['eval', join(tmpdir(), 'no-such-run'), '--episodes', '2']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no-such-run/);
    expect((await cli(['eval'])).code).toBe(2);
  });
});

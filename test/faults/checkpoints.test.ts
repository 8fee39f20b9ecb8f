/*
 * Damaged checkpoints: a resume never loads one (flipped bytes in
 * agent.msgpack fail the checksum instead of loading as other numbers) and
 * never hangs on one (a decoder error still runs the clean-up, so the conv
 * worker thread does not keep the process alive). It falls back to the newest intact checkpoint and says so, and the
 * resumed run's numbers are those of a run that never stopped.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import msgpack from 'msgpack-lite';
import { readMsgpackFile, writeMsgpackFile } from '../../src/loop/checkpoint.js';
import { train } from '../../src/loop/train.js';
import { readMetrics, type MetricsRecord } from '../../src/run/metrics.js';
import { readStatus } from '../../src/run/status.js';
import { comparable, tinyConfig } from '../loop/helpers.js';
import { copyRun, killChildrenAfterEach, runCli, scratchRoot } from './helpers.js';

const scratch = scratchRoot('curl-faults-ckpt-');
killChildrenAfterEach();

function flipByte(path: string, at: number): void {
  const bytes = readFileSync(path);
  bytes[at] = bytes[at]! ^ 0x04;
  writeFileSync(path, bytes);
}

/** Rewrites a checkpoint file with a valid checksum around edited contents. */
function editMsgpack(path: string, edit: (state: Record<string, unknown>) => Record<string, unknown>): void {
  writeMsgpackFile(path, edit(readMsgpackFile<Record<string, unknown>>(path)));
}

function truncateToHalf(path: string): void {
  truncateSync(path, Math.floor(statSync(path).size / 2));
}

describe('resuming from damaged checkpoints', () => {
  // 200 agent steps, checkpoints every 80: small enough to run many times.
  const config = tinyConfig({ backend: 'wasm', steps: 800, convWorkers: 1 });
  let expected: Array<Record<string, unknown>>;
  let stopped: string;

  beforeAll(async () => {
    const base = scratch();
    const whole = await train({ config, runDir: join(base, 'whole'), progress: 'none', log: () => {} });
    expected = comparable(readMetrics(join(whole.runDir, 'metrics.jsonl')));
    // Stopped at agent step 180: checkpoints at 160 (periodic) and 180 (the stop's), both kept.
    const first = await train({
      config,
      runDir: join(base, 'stopped'),
      progress: 'none',
      log: () => {},
      onStart: (trainer, shutdown) =>
        trainer.events.subscribe((e) => {
          if (e.type === 'transition' && e.agentStep === 180) shutdown.request({ kind: 'signal', signal: 'SIGINT' });
        }),
    });
    expect(first.agentStep).toBe(180);
    stopped = first.runDir;
    expect(readdirSync(join(stopped, 'checkpoints')).filter((n) => n.startsWith('ckpt-')).sort()).toEqual(['ckpt-000000160', 'ckpt-000000180']);
  });

  // The runs keep one conv worker thread (the run config's): a load error must end it too, or it keeps the failed process alive.
  const cases: Array<[string, string, (ckpt: string) => void, RegExp]> = [
    ['agent.msgpack cut short', 'agent.msgpack', (c) => truncateToHalf(join(c, 'agent.msgpack')), /agent\.msgpack is damaged: it is cut short/],
    ['a flipped byte in agent.msgpack', 'agent.msgpack', (c) => flipByte(join(c, 'agent.msgpack'), Math.floor(statSync(join(c, 'agent.msgpack')).size * 0.7)), /agent\.msgpack is damaged: its checksum does not match/],
    ['an empty loop.msgpack', 'loop.msgpack', (c) => writeFileSync(join(c, 'loop.msgpack'), ''), /loop\.msgpack is damaged: the file is empty/],
    ['replay.msgpack cut short', 'replay.msgpack', (c) => truncateToHalf(join(c, 'replay.msgpack')), /replay\.msgpack is damaged/],
    ['a flipped byte in replay.msgpack', 'replay.msgpack', (c) => flipByte(join(c, 'replay.msgpack'), Math.floor(statSync(join(c, 'replay.msgpack')).size * 0.6)), /replay\.msgpack is damaged/],
    // a valid checksum around the wrong structure
    ['loop.msgpack holding {version: 1} only', 'loop.msgpack', (c) => writeMsgpackFile(join(c, 'loop.msgpack'), { version: 1 }), /loop\.msgpack is damaged: it is not a loop state \(counters: Required/],
    ['loop.msgpack with a frame stack of the wrong size', 'loop.msgpack', (c) => editMsgpack(join(c, 'loop.msgpack'), (s) => ({ ...s, stackFrames: [new Uint8Array(5), new Uint8Array(5)] })), /loop\.msgpack is damaged: its frame stack holds 2 frames of 5\/5 bytes; this run stacks 2 frames of 16x16x3 = 768 bytes/],
    ['an agent parameter of the wrong shape', 'agent.msgpack', (c) => editMsgpack(join(c, 'agent.msgpack'), (s) => {
      const params = s['params'] as Record<string, unknown>;
      return { ...s, params: { ...params, 'curl.W': { shape: [1_000_000_000, 1_000_000_000], data: new Float32Array(4) } } };
    }), /agent\.msgpack is damaged: it does not fit this run's agent: parameter "curl\.W" has shape \[1000000000,1000000000\], expected \[8,8\]/],
    ['an optimiser slot that is not float32 data', 'agent.msgpack', (c) => editMsgpack(join(c, 'agent.msgpack'), (s) => {
      const critic = (s['optimizers'] as Record<string, { t: number; m: Record<string, unknown>; v: unknown }>)['critic']!;
      return { ...s, optimizers: { ...(s['optimizers'] as object), critic: { ...critic, m: { ...critic.m, 'conv.w0': 'x' } } } };
    }), /agent\.msgpack is damaged: it does not fit this run's agent: optimizer "critic": m slot of "conv\.w0" is not float32 data/],
    // a 1-byte file with no checksum header is no file of the older format either
    ['a 1-byte agent.msgpack (an empty msgpack map)', 'agent.msgpack', (c) => writeFileSync(join(c, 'agent.msgpack'), Buffer.from([0x80])), /agent\.msgpack is damaged: it has no checksum header, and as a file of the older format without one it does not fit this run's agent: unsupported state version undefined/],
    ['a 1-byte agent.msgpack (a map cut off)', 'agent.msgpack', (c) => writeFileSync(join(c, 'agent.msgpack'), Buffer.from([0x85])), /agent\.msgpack is damaged: it has no checksum header, and as a file of the older format without one its contents cannot be decoded \(its 1 bytes end inside the first value\)/],
    ['an old-format agent.msgpack with bytes after its value', 'agent.msgpack', (c) => {
      const state = readMsgpackFile<Record<string, unknown>>(join(c, 'agent.msgpack'));
      writeFileSync(join(c, 'agent.msgpack'), Buffer.concat([msgpack.encode(state), Buffer.from([1, 2, 3])]));
    }, /agent\.msgpack is damaged: it has no checksum header, and as a file of the older format without one its contents cannot be decoded \(3 bytes follow its value\)/],
  ];

  it.each(cases)('%s: falls back to the intact checkpoint, says so, and matches a run that never stopped', async (_name, _file, damage, message) => {
    const run = copyRun(stopped, join(scratch(), 'run'));
    damage(join(run, 'checkpoints', 'ckpt-000000180'));
    const result = await runCli(['train', '--resume', run, '--progress', 'none']);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/fell back to ckpt-000000160, the newest intact checkpoint; the damaged ckpt-000000180 was moved to .*damaged-ckpt-000000180/);
    expect(result.code).toBe(0);
    expect(result.leftover).toEqual([]);
    expect(readStatus(run)).toMatchObject({ state: 'finished', agentStep: 200 });
    const records = readMetrics(join(run, 'metrics.jsonl'));
    expect(comparable(records)).toEqual(expected);
    expect(records.filter((r) => r.type === 'resume').map((r) => r.agentStep)).toEqual([160]);
  });

  // eval records as eval.csv keeps them: no per-episode returns
  const evalRow = (r: MetricsRecord) => (r.type === 'eval' ? { type: r.type, agentStep: r.agentStep, envStep: r.envStep, mean: r.mean, std: r.std } : r);

  it.each([
    ['deleted', (log: string) => rmSync(log)],
    ['cut to a third (mid-record)', (log: string) => truncateSync(log, Math.floor(statSync(log).size / 3))],
  ])('metrics.jsonl %s: the resume rebuilds it from what is left and eval.csv, warns, and finishes like a run that never stopped', async (_name, damage) => {
    const run = copyRun(stopped, join(scratch(), 'run'));
    const log = join(run, 'metrics.jsonl');
    const before = readMetrics(log);
    damage(log);
    const left = existsSync(log) ? readMetrics(log) : [];
    const result = await runCli(['train', '--resume', run, '--progress', 'none']);
    expect(result.stderr).toMatch(/curl-rl: warning: .*metrics\.jsonl has \d+ bytes, fewer than the \d+ the checkpoint counted: records were lost\. Rebuilt it from what is left/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.code).toBe(0);
    expect(readStatus(run)).toMatchObject({ state: 'finished', agentStep: 200 });
    const records = readMetrics(log);
    // what was left, the evaluations eval.csv had up to the checkpoint, then the resumed run as a run that never stopped
    const resumeAt = records.findIndex((r) => r.type === 'resume');
    const head = records.slice(0, resumeAt - 1);
    const lostEvals = before.filter((r) => r.type === 'eval' && r.agentStep <= 180 && !left.some((l) => l.type === 'eval' && l.agentStep === r.agentStep));
    expect(lostEvals.length).toBeGreaterThan(0);
    expect(head.filter((r) => !lostEvals.some((e) => e.agentStep === r.agentStep && r.type === 'eval'))).toEqual(left);
    expect(head.filter((r) => r.type === 'eval' && r.returns === undefined).map(evalRow)).toEqual(lostEvals.map(evalRow));
    expect(records[resumeAt - 1]).toMatchObject({ type: 'checkpoint', agentStep: 180 });
    const after = (rs: Array<Record<string, unknown>>) => rs.filter((r) => (r['agentStep'] as number) > 180);
    expect(after(comparable(records))).toEqual(after(expected));
    // eval.csv lists every evaluation, those put back included
    const csv = readFileSync(join(run, 'eval.csv'), 'utf8').trim().split('\n').slice(1);
    expect(csv.map((line) => Number(line.split(',')[1]))).toEqual(expected.filter((r) => r['type'] === 'eval').map((r) => r['agentStep']));
  });

  it('every checkpoint damaged: exits 1 at once saying so, and changes nothing', async () => {
    const run = copyRun(stopped, join(scratch(), 'run'));
    truncateToHalf(join(run, 'checkpoints', 'ckpt-000000180', 'replay.msgpack'));
    writeFileSync(join(run, 'checkpoints', 'ckpt-000000160', 'loop.msgpack'), '');
    const logBefore = readFileSync(join(run, 'metrics.jsonl'));
    const result = await runCli(['train', '--resume', run, '--progress', 'none']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/No intact checkpoint in .*ckpt-000000180 \(.*\) .*ckpt-000000160 \(the file is empty in loop\.msgpack\)\. Nothing was changed/s);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(result.leftover).toEqual([]);
    expect(readFileSync(join(run, 'metrics.jsonl'))).toEqual(logBefore);
    expect(readStatus(run)?.state).toBe('interrupted');
    expect(existsSync(join(run, 'checkpoints', 'ckpt-000000180'))).toBe(true);
    expect(existsSync(join(run, 'lock'))).toBe(false);
  });

  it('curl-rl eval skips a damaged newest checkpoint and says so', async () => {
    const { evaluateRun } = await import('../../src/loop/evaluate-run.js');
    const run = copyRun(stopped, join(scratch(), 'run'));
    flipByte(join(run, 'checkpoints', 'ckpt-000000180', 'agent.msgpack'), 100);
    const lines: string[] = [];
    const result = await evaluateRun(run, { episodes: 1, seed: 0, log: (l) => lines.push(l) });
    expect(result.checkpoint).toMatch(/ckpt-000000160$/);
    expect(lines.join('\n')).toMatch(/skipping .*ckpt-000000180: .*checksum does not match/);
  });

  it('a resume keeps the record of the checkpoint it resumed from', async () => {
    const run = copyRun(stopped, join(scratch(), 'run'));
    const result = await train({ resume: run, progress: 'none', log: () => {} });
    expect(result.state).toBe('finished');
    const records = readMetrics(join(run, 'metrics.jsonl'));
    const resumeAt = records.findIndex((r) => r.type === 'resume');
    expect(records[resumeAt - 1]).toMatchObject({ type: 'checkpoint', agentStep: 180, reason: 'SIGINT' });
    expect(records.filter((r) => r.type === 'checkpoint' && r.agentStep === 180)).toHaveLength(1);
  });
});

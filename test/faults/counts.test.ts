/*
 * Counts that make the program hold data (render's frames, eval's episodes)
 * are bounded before anything starts, and every count on the command line
 * is decimal digits only: each bad one exits 2 naming the flag and the range,
 * never a stack, never memory that grows until the machine gives out. GIFs
 * stream to disk, so a long one never sits in memory.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { GIF_PALETTE_FRAMES, GifFileWriter } from '../../envs/image.js';
import { main } from '../../src/cli/main.js';
import { episodesRange } from '../../src/cli/commands/eval.js';
import { train } from '../../src/loop/train.js';
import { gifImages } from '../gif.js';
import { tinyConfig } from '../loop/helpers.js';
import { scratchRoot, writePreset } from './helpers.js';

const scratch = scratchRoot('curl-faults-counts-');

/** Runs the CLI in this process; returns the exit code and what it printed. */
async function cli(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const err: string[] = [];
  const out: string[] = [];
  const spyErr = vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void err.push(parts.map(String).join(' ')));
  const spyLog = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.map(String).join(' ')));
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  });
  try {
    const code = await main(args);
    process.exitCode = undefined;
    return { code, stderr: err.join('\n'), stdout: out.join('\n') };
  } finally {
    spyErr.mockRestore();
    spyLog.mockRestore();
    write.mockRestore();
  }
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function expectRefused(result: { code: number; stderr: string }, message: RegExp): void {
  expect(result.stderr).toMatch(message);
  expect(result.code).toBe(2);
  expect(result.stderr).not.toMatch(/RangeError|TypeError|\n\s+at /);
}

describe('counts are decimal digits only, in every command', () => {
  let preset: string;
  let runsDir: string;
  beforeAll(() => {
    runsDir = join(scratch(), 'runs');
    preset = writePreset(scratch(), { ...tinyConfig({ backend: 'wasm' }), runsDir });
  });

  for (const raw of ['0x10', '1e1', ' 3', '3 ', '+ 3', '']) {
    it(`${JSON.stringify(raw)} is refused by render, eval, envs and train`, async () => {
      const dir = scratch();
      const digits = /is not a whole number written in decimal digits \(like 100000\)/;
      expectRefused(await cli(['render', '--env', 'toy-reach', '--steps', raw, '--out', join(dir, 'a.png')]), new RegExp(`--steps = ${escapeRegExp(JSON.stringify(raw))} ${digits.source}`));
      expectRefused(await cli(['render', '--env', 'toy-reach', '--image-size', raw, '--out', join(dir, 'a.png')]), /--image-size = .* is not a whole number/);
      expectRefused(await cli(['render', '--env', 'toy-reach', '--seed', raw, '--out', join(dir, 'a.gif'), '--steps', '2']), /--seed = .* is not a whole number/);
      expectRefused(await cli(['eval', dir, '--episodes', raw]), /--episodes = .* is not a whole number/);
      expectRefused(await cli(['envs', '--image-size', raw]), /--image-size = .* is not a whole number/);
      expectRefused(await cli(['train', '--preset', preset, '--steps', raw]), /--steps \(steps\) = .* is not a whole number/);
      expect(readdirSync(dir)).toEqual([]);
    });
  }
  it('a number with spaces around it is no decimal number either', async () => {
    expectRefused(await cli(['train', '--preset', preset, '--lr', ' 0.001']), /--lr \(lr\) = " 0\.001" is not a decimal number/);
  });
});

describe('render', () => {
  it('--image-size beyond what training allows exits 2 naming the flag and the range', async () => {
    const out = join(scratch(), 'big.png');
    expectRefused(await cli(['render', '--env', 'toy-reach', '--image-size', '100000', '--out', out]), /--image-size = 100000 is out of range; allowed: an integer from 8 to 512/);
    expectRefused(await cli(['render', '--env', 'toy-reach', '--action-repeat', '0', '--out', out]), /--action-repeat = 0 is out of range; allowed: an integer from 1 to 100/);
    expect(existsSync(out)).toBe(false);
  });

  it('a GIF longer than the disk can hold exits 2 before anything is rendered, naming the flag, the range and why', async () => {
    const dir = scratch();
    const result = await cli(['render', '--env', 'toy-reach', '--steps', '99999999999', '--out', join(dir, 'r.gif')]);
    expectRefused(result, /--steps = 99999999999 is out of range; allowed: an integer from 1 to \d+ \(a 100x100 GIF frame takes up to 1[45] KiB and .* has [\d.]+ [KMGT]iB free\)/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an output folder that does not exist exits 2 before anything is rendered', async () => {
    for (const out of ['/nonexistent/r.gif', '/nonexistent/r.png']) {
      expectRefused(await cli(['render', '--env', 'toy-reach', '--steps', '3', '--out', out]), /--out "\/nonexistent\/r\.(gif|png)" cannot be written: ENOENT/);
    }
  });

  it(`streams a GIF: beyond the first ${GIF_PALETTE_FRAMES} frames (its palette's) each frame is on disk as it comes, and the file appears whole at close`, async () => {
    const dir = scratch();
    const out = join(dir, 'stream.gif');
    const size = 12;
    const writer = await GifFileWriter.open(out, size, size);
    const tmp = () => join(dir, readdirSync(dir).find((n) => n.endsWith('.tmp'))!);
    const frame = (i: number) => Uint8Array.from({ length: size * size * 3 }, (_, p) => (p * 7 + i * 31) % 256);
    for (let i = 0; i < GIF_PALETTE_FRAMES - 1; i++) writer.add(frame(i));
    expect(statSync(tmp()).size).toBe(0);
    writer.add(frame(GIF_PALETTE_FRAMES - 1));
    let before = statSync(tmp()).size;
    expect(before).toBeGreaterThan(0);
    for (let i = GIF_PALETTE_FRAMES; i < 40; i++) {
      writer.add(frame(i));
      const now = statSync(tmp()).size;
      expect(now).toBeGreaterThan(before);
      before = now;
    }
    expect(existsSync(out)).toBe(false);
    expect(writer.close()).toBe(40);
    expect(readdirSync(dir)).toEqual(['stream.gif']);
    expect(gifImages(readFileSync(out))).toEqual(Array.from({ length: 40 }, () => ({ width: size, height: size })));
  });

  it('a render GIF of more frames than the palette sample has every frame', async () => {
    const out = join(scratch(), 'long.gif');
    const result = await cli(['render', '--env', 'toy-reach', '--steps', '40', '--image-size', '16', '--out', out]);
    expect(result.code, result.stderr).toBe(0);
    expect(gifImages(readFileSync(out))).toHaveLength(40);
  });
});

describe('eval', () => {
  let run: string;
  beforeAll(async () => {
    const outcome = await train({ config: tinyConfig({ backend: 'wasm', steps: 400 }), runDir: join(scratch(), 'run'), progress: 'none', log: () => {} });
    run = outcome.runDir;
  });

  it('--episodes beyond what one result can hold exits 2 before the run is looked at, naming the range and why', async () => {
    const { max } = episodesRange();
    expect(max).toBeLessThan(1_000_000_000);
    expectRefused(await cli(['eval', join(scratch(), 'no-such-run'), '--episodes', '1000000000', '--video', join(scratch(), 'big.gif')]),
      new RegExp(`--episodes = 1000000000 is out of range; allowed: an integer from 1 to ${max} \\((every return is printed in the result's one JSON line|each episode keeps about)`));
  });

  it('the range is the machine memory where that is smaller', () => {
    expect(episodesRange({ bytes: 41_000, source: 'test' })).toEqual({ min: 1, max: 1000, why: expect.stringMatching(/41 bytes until the result is printed, and this machine has 40 KiB available \(test\)/) });
  });

  it('--video to a path that cannot be written exits 2 before the evaluation (before any checkpoint is read)', async () => {
    const { rmSync, writeFileSync } = await import('node:fs');
    const { copyRun } = await import('./helpers.js');
    const copy = copyRun(run, join(scratch(), 'copy'));
    // every agent.msgpack damaged: an evaluation that started would fail on them first
    for (const name of readdirSync(join(copy, 'checkpoints')).filter((n) => n.startsWith('ckpt-'))) writeFileSync(join(copy, 'checkpoints', name, 'agent.msgpack'), '');
    const result = await cli(['eval', copy, '--video', '/nonexistent/x.gif']);
    expectRefused(result, /--video "\/nonexistent\/x\.gif" cannot be written: ENOENT/);
    expect(result.stderr).not.toMatch(/damaged/);
    const folder = join(scratch(), 'a-folder.gif');
    (await import('node:fs')).mkdirSync(folder);
    expectRefused(await cli(['eval', copy, '--video', folder]), /--video ".*a-folder\.gif" cannot be written: .* is a directory/);
    rmSync(copy, { recursive: true });
  });

  it('an agent.msgpack that does not fit the agent is skipped like a damaged one', async () => {
    const { copyRun } = await import('./helpers.js');
    const { readMsgpackFile, writeMsgpackFile } = await import('../../src/loop/checkpoint.js');
    const { evaluateRun } = await import('../../src/loop/evaluate-run.js');
    const copy = copyRun(run, join(scratch(), 'copy'));
    const names = readdirSync(join(copy, 'checkpoints')).filter((n) => n.startsWith('ckpt-')).sort();
    expect(names.length).toBe(2);
    const newest = join(copy, 'checkpoints', names[1]!, 'agent.msgpack');
    const state = readMsgpackFile<Record<string, unknown>>(newest);
    writeMsgpackFile(newest, { ...state, params: { ...(state['params'] as object), 'curl.W': { shape: [1_000_000_000, 1_000_000_000], data: new Float32Array(1) } } });
    const lines: string[] = [];
    const result = await evaluateRun(copy, { episodes: 1, seed: 0, log: (l) => lines.push(l) });
    expect(result.checkpoint).toMatch(new RegExp(`${names[0]}$`));
    expect(lines.join('\n')).toMatch(/skipping .*: .*agent\.msgpack is damaged: it does not fit this run's agent: parameter "curl\.W" has shape \[1000000000,1000000000\]/);
  });
});

/*
 * Bad input of every kind: each exits 2 (README: bad configuration) with a
 * message that names what was wrong and what is expected, before anything is
 * created, and never as a stack trace.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { train } from '../../src/loop/train.js';
import { readMetrics } from '../../src/run/metrics.js';
import { repoRoot, tinyConfig } from '../loop/helpers.js';
import { bin, killChildrenAfterEach, runCli, scratchRoot, writePreset } from './helpers.js';
import { loadConvAddon } from '../../agents/native/addon.js';

const scratch = scratchRoot('curl-faults-input-');
killChildrenAfterEach();

/** Runs the CLI in this process (fast: no start-up per case); returns the exit code and what it printed to stderr. */
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void lines.push(parts.map(String).join(' ')));
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    const code = await main(args);
    process.exitCode = undefined;
    return { code, stderr: lines.join('\n') };
  } finally {
    spy.mockRestore();
    write.mockRestore();
  }
}

describe('bad configuration exits 2 with a message for a person, creating nothing', () => {
  let runsDir: string;
  let preset: string;
  beforeAll(() => {
    runsDir = join(scratch(), 'runs');
    preset = writePreset(scratch(), { ...tinyConfig({ backend: 'wasm' }), runsDir });
  });

  const cases: Array<[string[], RegExp]> = [
    [['--image-size', '8', '--crop-size', '8', '--num-conv-layers', '4'], /4 conv layers \(3x3, strides 2,1,1,\.\.\.\) shrink a 8-pixel crop to nothing: use --crop-size 15 or more .*or --num-conv-layers 2 or fewer/],
    [['--num-conv-layers', '8', '--crop-size', '28', '--image-size', '32'], /8 conv layers .* shrink a 28-pixel crop to nothing: use --crop-size 31 or more .*or --num-conv-layers 7 or fewer/],
    [['--hidden-dim', '1000000'], /does not fit this machine: the run needs about [\d.]+ TiB of memory .*networks [\d.]+ TiB\) .*use smaller layers \(--hidden-dim/],
    [['--replay-capacity', '10000000000'], /does not fit this machine: the run needs about [\d.]+ TiB of memory .*available .*lower --replay-capacity to at most \d+/],
    [['--replay-capacity', '1e10'], /--replay-capacity \(replayCapacity\) = "1e10" is not a whole number written in decimal digits/],
    [['--steps', '0x10'], /--steps \(steps\) = "0x10" is not a whole number written in decimal digits \(like 100000\)/],
    [['--steps', '1e30'], /--steps \(steps\) = "1e30" is not a whole number/],
    [['--steps', '100000000000000000000'], /--steps \(steps\) = "100000000000000000000" is too large to count exactly/],
    [['--steps', '2000000000000000'], /--steps \(steps\) = 2000000000000000 is invalid: .*<= 1125899906842624/],
    [['--lr', '0x1'], /--lr \(lr\) = "0x1" is not a decimal number/],
    [['--lr', 'Infinity'], /--lr \(lr\) = "Infinity" is not a decimal number/],
  ];

  it.each(cases)('train %j', async (flags, message) => {
    const result = await cli(['train', '--preset', preset, ...flags]);
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(2);
    expect(result.stderr).not.toMatch(/RangeError|\n\s+at /);
    expect(readdirSafe(runsDir)).toEqual([]);
  });

  it('the real process exits 2 too, and leaves nothing running', async () => {
    const result = await runCli(['train', '--preset', preset, '--replay-capacity', '10000000000']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/does not fit this machine/);
    expect(result.leftover).toEqual([]);
    expect(readdirSafe(runsDir)).toEqual([]);
  });

  it('a damaged or foreign config.json is named, with what to do', async () => {
    const dir = scratch();
    for (const [text, message] of [
      ['{"config": {"env": "toy-re', /config\.json: it is not valid JSON \(.*\)\. It holds the run's configuration: restore it from a copy, or start a new run\./],
      ['{}', /config\.json has no "config" object, so it was not written by curl-rl train or was edited/],
      ['{"config": {"steps": -5}}', /config\.json holds a configuration this version cannot use: field 'steps': Number must be greater than 0/],
    ] as const) {
      writeFileSync(join(dir, 'config.json'), text);
      const result = await cli(['train', '--resume', dir]);
      expect(result.stderr).toMatch(message);
      expect(result.code).toBe(2);
      expect(result.stderr).not.toMatch(/SyntaxError|\n\s+at /);
    }
  });
});

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

describe('limits that are adjusted rather than refused', () => {
  it.each((loadConvAddon().available ? ['tfjs', 'libtorch'] : ['tfjs']) as Array<'tfjs' | 'libtorch'>)('--conv-workers beyond the cores is capped to one thread per core, saying so (%s engine)', async (convEngine) => {
    const lines: string[] = [];
    const config = tinyConfig({ backend: 'wasm', steps: 8, convWorkers: 64, convEngine });
    const outcome = await train({ config, runDir: join(scratch(), 'run'), progress: 'none', log: (l) => lines.push(l) });
    expect(outcome.state).toBe('finished');
    const cores = availableParallelism();
    const most = Math.max(0, cores - 1);
    expect(lines.join('\n')).toMatch(new RegExp(`--conv-workers 64 would run 65 threads on ${cores} cores?; using ${most} workers? \\(one thread per core\\)`));
    if (most > 0) {
      expect(lines.join('\n')).toMatch(
        convEngine === 'tfjs' ? new RegExp(`split over ${most + 1} threads: this one and ${most} worker`) : new RegExp(`on ${most + 1} libtorch threads`),
      );
    }
  });
});

describe('resuming with fewer steps than the run has done', () => {
  it('is refused with exit 2, changing nothing; resuming a finished run says there is nothing left', async () => {
    const config = tinyConfig({ backend: 'wasm', steps: 400 });
    const run = await train({ config, runDir: join(scratch(), 'run'), progress: 'none', log: () => {} });
    const before = readFileSync(join(run.runDir, 'metrics.jsonl'));
    const fewer = await cli(['train', '--resume', run.runDir, '--steps', '200']);
    expect(fewer.code).toBe(2);
    expect(fewer.stderr).toMatch(/--steps 200 is below the 400 environment steps this run has already trained .*pass --steps above 400 to train it further/);
    expect(readFileSync(join(run.runDir, 'metrics.jsonl'))).toEqual(before);

    const same = await cli(['train', '--resume', run.runDir, '--progress', 'none']);
    expect(same.code).toBe(0);
    expect(same.stderr).toMatch(/has already trained its 400 environment steps; pass --steps above 400/);
    expect(same.stderr).toMatch(/final eval at env step 400/);
    // Nothing new was trained, so nothing was rewritten: the log only notes the resume.
    const added = readMetrics(join(run.runDir, 'metrics.jsonl')).slice(readMetrics(join(run.runDir, 'metrics.jsonl')).length - 1);
    expect(added.map((r) => r.type)).toEqual(['resume']);
  });
});

describe('remote env start-up', () => {
  it('--remote-startup-timeout-ms bounds the wait for a process that never answers, and the process is gone after', async () => {
    const dir = scratch();
    const result = await runCli(
      [
        'train', '--preset', writePreset(dir, { ...tinyConfig({ backend: 'wasm' }), runsDir: join(dir, 'runs') }), '--env', 'remote',
        '--remote-cmd', 'sleep 120', '--remote-startup-timeout-ms', '1500', '--remote-timeout-ms', '1000',
      ],
      { hangAfterMs: 60_000 },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/1500 ms/);
    expect(result.leftover).toEqual([]);
    expect(readdirSafe(join(dir, 'runs'))).toEqual([]);
  });
});

describe('output to a reader that went away', () => {
  it('`curl-rl config | head` ends quietly with exit 0', async () => {
    const child = spawn(process.execPath, [bin, 'config', '--env', 'cheetah-run'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    // The reader goes away before the first line: every write meets a closed pipe (EPIPE).
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(watchdog);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});



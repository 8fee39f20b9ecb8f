/*
 * Options given with --resume: those that change the run's plan (--steps,
 * the eval, log and checkpoint cadence) are written to config.json, so the
 * next plain `train --resume` goes on with the same plan instead of refusing
 * a `--steps` nobody typed; those about this process (threads, backend) are
 * not. --run-dir and --runs-dir cannot move a resumed run and are refused
 * with exit 2 before anything changes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { train } from '../../src/loop/train.js';
import { readStatus } from '../../src/run/status.js';
import { tinyConfig } from '../loop/helpers.js';
import { cliInProcess, copyRun, scratchRoot } from './helpers.js';

const scratch = scratchRoot('curl-faults-resume-opts-');

function storedConfig(dir: string): Record<string, unknown> {
  return (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { config: Record<string, unknown> }).config;
}

describe('options given with --resume', () => {
  // 100 agent steps (400 env steps), finished.
  const config = tinyConfig({ backend: 'wasm', steps: 400, convWorkers: 1 });
  let finished: string;

  beforeAll(async () => {
    const run = await train({ config, runDir: join(scratch(), 'run'), progress: 'none', log: () => {} });
    expect(run.state).toBe('finished');
    finished = run.runDir;
  });

  it('--steps and the cadence are kept in config.json; a plain resume afterwards has nothing left and exits 0', async () => {
    const dir = copyRun(finished, join(scratch(), 'run'));
    const longer = await cliInProcess(['train', '--resume', dir, '--steps', '480', '--eval-every', '240', '--conv-workers', '0', '--progress', 'none']);
    expect(longer.code).toBe(0);
    expect(readStatus(dir)).toMatchObject({ state: 'finished', envStep: 480 });
    expect(storedConfig(dir)).toMatchObject({ steps: 480, evalEvery: 240, convWorkers: 1 });

    const plain = await cliInProcess(['train', '--resume', dir, '--progress', 'none']);
    expect(plain.out).not.toMatch(/--steps 400|is below/);
    expect(plain.out).toMatch(/has already trained its 480 environment steps; pass --steps above 480 to train it further/);
    expect(plain.code).toBe(0);
  });

  it('a --steps below what the run has trained changes nothing, config.json included', async () => {
    const dir = copyRun(finished, join(scratch(), 'run'));
    const before = readFileSync(join(dir, 'config.json'));
    const fewer = await cliInProcess(['train', '--resume', dir, '--steps', '200']);
    expect(fewer.code).toBe(2);
    expect(fewer.out).toMatch(/--steps 200 is below the 400 environment steps this run has already trained/);
    expect(readFileSync(join(dir, 'config.json'))).toEqual(before);
  });

  it("a config.json whose steps fall short of the run's checkpoint (written before resumes recorded --steps) is named as such, not as a --steps flag", async () => {
    const dir = copyRun(finished, join(scratch(), 'run'));
    const file = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { config: Record<string, unknown> };
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...file, config: { ...file.config, steps: 320 } }));
    const plain = await cliInProcess(['train', '--resume', dir]);
    expect(plain.code).toBe(2);
    expect(plain.out).not.toMatch(/--steps 320/);
    expect(plain.out).toMatch(/config\.json plans 320 environment steps, fewer than the 400 this run has already trained .*pass --steps 400 to keep them/);
  });

  it.each([
    [['--run-dir', '/elsewhere'], /--run-dir cannot be combined with --resume: a resumed run stays in .*run; to start a new run in \/elsewhere, leave out --resume/],
    [['--runs-dir', '/elsewhere'], /--runs-dir cannot be combined with --resume: a resumed run stays in .*run \(--runs-dir only chooses where new runs go\)/],
  ])('%j with --resume exits 2 saying why, and changes nothing', async (flags, message) => {
    const dir = copyRun(finished, join(scratch(), 'run'));
    const before = readFileSync(join(dir, 'metrics.jsonl'));
    const result = await cliInProcess(['train', '--resume', dir, ...flags, '--steps', '480']);
    expect(result.out).toMatch(message);
    expect(result.code).toBe(2);
    expect(readFileSync(join(dir, 'metrics.jsonl'))).toEqual(before);
    expect(storedConfig(dir)).toMatchObject({ steps: 400 });
  });
});

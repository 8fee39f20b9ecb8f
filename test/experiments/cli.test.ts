import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as reportCommand from '../../src/cli/commands/report.js';
import * as sweepCommand from '../../src/cli/commands/sweep.js';
import * as exportCommand from '../../src/cli/commands/export.js';
import * as probeCommand from '../../src/cli/commands/probe.js';

let tmp: string;
let log: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cli-test-'));
  log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  log.mockRestore();
  rmSync(tmp, { recursive: true, force: true });
});

/** These tests start no command from within another. */
async function noNestedCli(argv: string[]): Promise<number> {
  throw new Error(`unexpected nested command: curl-rl ${argv.join(' ')}`);
}

function program(): Command {
  const p = new Command('curl-rl').exitOverride();
  sweepCommand.register(p, noNestedCli);
  reportCommand.register(p);
  exportCommand.register(p);
  probeCommand.register(p);
  for (const sub of p.commands) sub.exitOverride();
  return p;
}

const printed = (): string => log.mock.calls.map((c: unknown[]) => c.join(' ')).join('\n');

describe('curl-rl sweep --dry-run', () => {
  it('prints the plan and the train command of every run without running anything', async () => {
    const file = join(tmp, 'sw.json');
    writeFileSync(file, JSON.stringify({ name: 'dry', tasks: ['cartpole-balance'], seeds: [1], aux: ['curl', 'none'], preset: 'cartpole-balance-cpu', runsDir: 'r' }));
    const finished = join(tmp, 'r', 'dry', 'cartpole-balance-none-s1');
    mkdirSync(finished, { recursive: true });
    writeFileSync(join(finished, 'status.json'), JSON.stringify({ state: 'finished', agentStep: 1, envStep: 8 }));
    await program().parseAsync(['sweep', file, '--dry-run'], { from: 'user' });
    const out = printed();
    expect(out).toContain(`fresh  cartpole-balance-curl-s1  curl-rl train --env cartpole-balance --aux curl --seed 1 --run-dir ${join(tmp, 'r', 'dry', 'cartpole-balance-curl-s1')} --progress plain --preset cartpole-balance-cpu`);
    expect(out).toContain('skip   cartpole-balance-none-s1');
    expect(existsSync(join(tmp, 'r', 'dry', 'index.json'))).toBe(false);
  });

  it('--only narrows the plan to the named runs and refuses an id the sweep does not have', async () => {
    const file = join(tmp, 'sw.json');
    writeFileSync(file, JSON.stringify({ name: 'dry', tasks: ['cartpole-balance'], seeds: [1, 2], variants: [{ name: 'flat', aux: 'none', overrides: { aug: 'none' } }], runsDir: 'r' }));
    await program().parseAsync(['sweep', file, '--dry-run', '--only', 'cartpole-balance-flat-s2'], { from: 'user' });
    const out = printed();
    expect(out).toContain('sweep dry: 1 runs in');
    expect(out).toContain('(--only: 1 of 2)');
    expect(out).toMatch(/fresh  cartpole-balance-flat-s2  curl-rl train --env cartpole-balance --aux none --seed 2 .* --aug none/);
    expect(out).not.toContain('cartpole-balance-flat-s1');
    await expect(program().parseAsync(['sweep', file, '--dry-run', '--only', 'cartpole-balance-curl-s1'], { from: 'user' })).rejects.toThrow(
      /--only cartpole-balance-curl-s1: not a run of sweep 'dry'\. Its runs: cartpole-balance-flat-s1, cartpole-balance-flat-s2\./,
    );
    await expect(program().parseAsync(['sweep', file, '--executor', 'slurm', '--export', join(tmp, 'x')], { from: 'user' })).rejects.toThrow(/--export is for --executor local/);
  });

  it('rejects a bad --parallel', async () => {
    const file = join(tmp, 'sw.json');
    writeFileSync(file, JSON.stringify({ name: 'x', tasks: ['cartpole-balance'], seeds: [1] }));
    await expect(program().parseAsync(['sweep', file, '--parallel', '0'], { from: 'user' })).rejects.toThrow(/--parallel = 0 is out of range; allowed: an integer from 1 to/);
  });
});

describe('curl-rl export', () => {
  it("copies a run's results and says what it kept", async () => {
    const run = join(tmp, 'runs', 'a');
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'config.json'), JSON.stringify({ config: { env: 'reacher-easy', aux: 'curl', seed: 1, actionRepeat: 4 } }));
    writeFileSync(join(run, 'metrics.jsonl'), `${JSON.stringify({ type: 'eval', agentStep: 0, envStep: 0, mean: 5 })}\n`);
    await program().parseAsync(['export', run, join(tmp, 'results', 'curl-s1')], { from: 'user' });
    expect(printed()).toMatch(/-> .*curl-s1: config\.json, metrics\.jsonl \(1 evaluations, 0 train and 0 episode records kept, 0 left out\)/);
    expect(printed()).toContain('the run has no machine.jsonl');
    await expect(program().parseAsync(['export', join(tmp, 'nope'), join(tmp, 'o')], { from: 'user' })).rejects.toThrow(/is not a run directory/);
  });
});

describe('curl-rl probe', () => {
  it('refuses bad counts and fractions before loading anything', async () => {
    const run = join(tmp, 'no-run');
    await expect(program().parseAsync(['probe', run, '--held-out', '1.5'], { from: 'user' })).rejects.toThrow(/--held-out "1.5" is invalid; expected a fraction strictly between 0 and 1/);
    await expect(program().parseAsync(['probe', run, '--held-out', '0'], { from: 'user' })).rejects.toThrow(/--held-out "0" is invalid/);
    await expect(program().parseAsync(['probe', run, '--episodes', '1e3'], { from: 'user' })).rejects.toThrow(/--episodes/);
    await expect(program().parseAsync(['probe', run, '--episodes', '1', '--random-episodes', '0'], { from: 'user' })).rejects.toThrow(/at least 2 episodes/);
  });
});

describe('curl-rl report', () => {
  it('writes the report files for a runs folder', async () => {
    const run = join(tmp, 'runs', 'a');
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'config.json'), JSON.stringify({ config: { env: 'reacher-easy', aux: 'curl', seed: 1, actionRepeat: 4 } }));
    writeFileSync(join(run, 'metrics.jsonl'), `${JSON.stringify({ type: 'eval', agentStep: 0, envStep: 0, mean: 5 })}\n`);
    const out = join(tmp, 'rep');
    await program().parseAsync(['report', join(tmp, 'runs'), '--out', out, '--band', 'ci95'], { from: 'user' });
    for (const f of ['curves.svg', 'curves.png', 'report.md', 'summary.json']) expect(existsSync(join(out, f))).toBe(true);
    expect(printed()).toContain('| reacher-easy | curl | 1 | 5.0 | 0 | 5.0 | 5.0 | — | 538 | — | 929 |');
  });
});

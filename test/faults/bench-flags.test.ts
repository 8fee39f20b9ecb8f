import { describe, expect, it, vi } from 'vitest';
import { availableBenchmarks, benchmarkHelp } from '../../src/cli/commands/bench.js';
import { main } from '../../src/cli/main.js';

/** Runs the CLI in this process; returns the exit code and everything printed. */
async function cli(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const collect = (chunk: string | Uint8Array): boolean => {
    lines.push(String(chunk));
    return true;
  };
  const spies = [
    vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void lines.push(parts.map(String).join(' '))),
    vi.spyOn(process.stderr, 'write').mockImplementation(collect),
    vi.spyOn(process.stdout, 'write').mockImplementation(collect),
  ];
  try {
    const code = await main(args);
    process.exitCode = undefined;
    return { code, out: lines.join('\n') };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

describe('bench flags', () => {
  it('every benchmark answers --help with its description and flags, and runs nothing', async () => {
    const names = availableBenchmarks();
    expect(names).toEqual(expect.arrayContaining(['adam', 'env', 'precision', 'remote', 'render', 'replay', 'train', 'trunk', 'update']));
    for (const name of names) {
      const { code, out } = await cli(['bench', name, '--help']);
      expect(code).toBe(0);
      expect(out).toContain(`Usage: curl-rl bench ${name} [flags]`);
      expect(out).toMatch(/Flags:|--[a-z]/);
      expect(out).not.toMatch(/^\{/m); // no JSON measurement line
    }
    expect(benchmarkHelp('update')).toMatch(/--batch-size .*--aux curl\|none\|both/s);
  });

  it.each([
    [['bench', 'update', '--aux', 'foo'], /bench update: --aux must be both, all or a comma list of curl, none, simclr, byol, barlow, curl-debiased, curl-hard, margin, triplet, lifted, n-pair, nce, soft-nn, memory-bank, mochi, swav; got 'foo' \(see `curl-rl bench update --help`\)/],
    [['bench', 'update', '--bogus', '1'], /Unknown option '--bogus'.*curl-rl bench update --help/s],
    [['bench', 'render', '--frames', '0'], /bench render: --frames must be a positive integer, got 0/],
    [['bench', 'env', '--tasks', 'nope'], /bench env: unknown task in --tasks nope; known: .*cartpole-swingup.*\(see `curl-rl bench env --help`\)/],
    [['bench', 'update', '--precision', 'fp16'], /bench update: --precision must be a comma list of auto, fp32, bf16, got 'fp16'/],
    [['bench', 'update', '--conv-engine', 'tfjs', '--precision', 'bf16'], /--precision bf16 needs the libtorch conv engine/],
    [['bench', 'update', '--conv-engine', 'tfjs', '--breakdown'], /bench update: --breakdown times the libtorch engine's calls; the engine here is tfjs/],
    [['bench', 'trunk', '--precision', 'fp16'], /bench trunk: --precision must be a comma list of fp32, bf16; got 'fp16'/],
    [['bench', 'nope'], /Unknown benchmark 'nope'\. Available: adam, env, precision, remote, render, replay, start, train, trunk, update/],
    [['bench', 'adam', '--dead', '1.5'], /bench adam: --dead must be a fraction in \[0, 1\], got 1\.5 \(see `curl-rl bench adam --help`\)/],
    [['bench', 'adam', '--engine', 'gpu'], /bench adam: --engine must be both, native or tfjs, got gpu/],
    [['bench', 'start', '--seeds', '1,x'], /bench start: --seeds must be whole numbers separated by commas, got '1,x'/],
    [['bench', 'train', '--updates', '0'], /bench train: --updates must be an integer >= 1 and --warmup >= 0, got '0' and '5'/],
    [['bench', 'train', '--aux', 'nope'], /--aux \(aux\) = "nope" is invalid.*\(see `curl-rl bench train --help`\)/s],
  ])('%j exits 2 with a message, not a stack', async (args, message) => {
    const { code, out } = await cli(args);
    expect(code).toBe(2);
    expect(out).toMatch(message);
    expect(out).not.toMatch(/\n\s+at /);
  });
});

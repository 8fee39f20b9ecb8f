import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConvAddon } from '../../agents/native/addon.js';
import { repoRoot, runWholeAndResumed, tempDir, tinyConfig } from './helpers.js';

describe.runIf(loadConvAddon().available)('checkpoints are engine-independent', () => {
  it.each([
    ['tfjs', 'libtorch'],
    ['libtorch', 'tfjs'],
  ] as const)('a run started on %s resumes on %s, and its numbers stay those of a run that never changed engine', async (first, second) => {
    const config = tinyConfig({ backend: 'wasm', convEngine: first, convWorkers: 0 });
    const lines: string[] = [];
    const { whole, first: part, second: resumed, expected: all, actual: resumedAll } = await runWholeAndResumed(config, 131, {
      resumeOverrides: { convEngine: second },
      resumeLog: (l) => lines.push(l),
    });
    expect(whole.state).toBe('finished');
    expect(part.agentStep).toBe(131);
    expect(resumed?.state).toBe('finished');
    expect(resumed?.agentStep).toBe(240);
    expect(lines.join('\n')).toMatch(new RegExp(`conv engine: ${second} \\(requested`));

    const withUpdates = (r: Record<string, unknown>) => r.type === 'train' && (r.updates as number) > 0;
    const expected = all.filter(withUpdates);
    const actual = resumedAll.filter(withUpdates);
    expect(actual.length).toBeGreaterThanOrEqual(4);
    expect(actual.map((r) => r.agentStep)).toEqual(expected.map((r) => r.agentStep));
    // the engines differ in float rounding only: the same losses to 3 decimals after ~180 updates, a third of them on the other engine
    actual.forEach((r, i) => {
      for (const key of ['criticLoss', 'curlLoss', 'qMean']) expect(r[key] as number).toBeCloseTo(expected[i]![key] as number, 3);
    });
  });
});

describe('asking for an engine that is not built', () => {
  it('exits 3 with the command that builds it, before any run directory exists', () => {
    const runsDir = tempDir();
    const r = spawnSync(process.execPath, [join(repoRoot, 'src', 'cli', 'bin.js'), 'train', '--env', 'toy-reach', '--conv-engine', 'libtorch', '--runs-dir', runsDir, '--progress', 'none'], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, CURL_RL_CONV_ADDON: join(runsDir, 'missing.node') },
      timeout: 60_000,
    });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/--conv-engine libtorch is not available: the native conv engine is not built.*npm run build:native/);
    expect(readdirSync(runsDir)).toEqual([]);
    rmSync(runsDir, { recursive: true, force: true });
  });
});

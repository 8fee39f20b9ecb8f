import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConvAddon } from '../../agents/native/addon.js';
import { ConfigError } from '../../src/core/errors.js';
import { resolvePrecision } from '../../src/conv-engine.js';
import { readMsgpackFile } from '../../src/loop/checkpoint.js';
import type { AgentState } from '../../agents/index.js';
import { repoRoot, runWholeAndResumed, tempDir, tinyConfig } from './helpers.js';

const addon = loadConvAddon();
const bf16 = addon.available ? addon.info.bf16 : 'unsupported';

describe('--precision', () => {
  it('fp32 runs anywhere; auto is bf16 exactly where libtorch runs it natively; bf16 needs the libtorch engine', () => {
    expect(resolvePrecision('fp32', 'tfjs').precision).toBe('fp32');
    expect(resolvePrecision('fp32', 'libtorch').precision).toBe('fp32');
    expect(resolvePrecision('auto', 'tfjs')).toMatchObject({ precision: 'fp32', reason: /tfjs conv engine computes in fp32/ });
    expect(() => resolvePrecision('bf16', 'tfjs')).toThrow(ConfigError);
    expect(() => resolvePrecision('bf16', 'tfjs')).toThrow(/--precision bf16 needs the libtorch conv engine/);
    if (!addon.available) return;
    expect(resolvePrecision('auto', 'libtorch').precision).toBe(bf16 === 'native' ? 'bf16' : 'fp32');
    if (bf16 === 'unsupported') {
      expect(() => resolvePrecision('bf16', 'libtorch')).toThrow(/cannot run bf16 on this CPU/);
    } else {
      const choice = resolvePrecision('bf16', 'libtorch');
      expect(choice.precision).toBe('bf16');
      // emulated bf16 runs, and says it will be slow
      expect(choice.warning ?? '').toMatch(bf16 === 'emulated' ? /emulated/ : /^$/);
    }
  });

  it('bf16 on the tfjs engine exits 2 with the reason, before any run directory exists', () => {
    const runsDir = tempDir();
    const r = spawnSync(process.execPath, [join(repoRoot, 'src', 'cli', 'bin.js'), 'train', '--env', 'toy-reach', '--conv-engine', 'tfjs', '--precision', 'bf16', '--runs-dir', runsDir, '--progress', 'none'], {
      cwd: repoRoot, encoding: 'utf8', timeout: 60_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--precision bf16 needs the libtorch conv engine; this run's conv engine is tfjs/);
    expect(readdirSync(runsDir)).toEqual([]);
    rmSync(runsDir, { recursive: true, force: true });
  });

  it.runIf(addon.available)('a run started in fp32 resumes in bf16: the checkpoint records the precision and the losses stay close (where bf16 runs)', async () => {
    const config = tinyConfig({ backend: 'wasm', convEngine: 'libtorch', convWorkers: 0, precision: 'fp32' });
    if (bf16 === 'unsupported') {
      // the resume is refused before it changes anything, with the reason
      const { second } = await runWholeAndResumed(config, 131, { resumeOverrides: { precision: 'bf16' } }).catch((error: Error) => {
        expect(error.message).toMatch(/cannot run bf16 on this CPU/);
        return { second: null };
      });
      expect(second).toBeNull();
      return;
    }
    const lines: string[] = [];
    const newest = (dir: string) => readdirSync(join(dir, 'checkpoints')).filter((d) => d.startsWith('ckpt-')).sort().at(-1)!;
    const precisionAt = (dir: string) => readMsgpackFile<AgentState>(join(dir, 'checkpoints', newest(dir), 'agent.msgpack')).precision;
    let stoppedAt: string | undefined;
    const { second, expected, actual, dir } = await runWholeAndResumed(config, 131, {
      beforeResume: (d) => (stoppedAt = precisionAt(d)),
      resumeOverrides: { precision: 'bf16' },
      resumeLog: (l) => lines.push(l),
    });
    expect(second?.state).toBe('finished');
    expect(lines.join('\n')).toMatch(/precision: bf16 \(requested/);
    // the checkpoint the resume started from was written in fp32, the final one in bf16
    expect(stoppedAt).toBe('fp32');
    expect(precisionAt(dir)).toBe('bf16');
    const withUpdates = (r: Record<string, unknown>) => r.type === 'train' && (r.updates as number) > 0;
    const a = actual.filter(withUpdates);
    const e = expected.filter(withUpdates);
    expect(a.map((r) => r.agentStep)).toEqual(e.map((r) => r.agentStep));
    // bf16 rounds the trunk's inputs and weights to 8 significant bits: the losses move, but stay near fp32's
    a.forEach((r, i) => expect(Math.abs((r['criticLoss'] as number) - (e[i]!['criticLoss'] as number))).toBeLessThan(0.05 * Math.max(1, Math.abs(e[i]!['criticLoss'] as number))));
  });
});

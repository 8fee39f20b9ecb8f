import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestMetrics, exportRun } from '../../experiments/report/export-run.js';
import { loadRun } from '../../experiments/report/load-runs.js';
import { buildReport } from '../../experiments/report/report.js';
import { curvesSpec } from '../../experiments/report/plot.js';
import { publishedScores } from '../../experiments/report/paper.js';
import { variantOf } from '../../experiments/report/variant.js';
import { cpuFlags } from '../../src/run/machine-log.js';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'export-test-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const line = (record: object): string => JSON.stringify(record);

/** A run directory as train leaves it: records every 250 env steps, evals every 2,000, a checkpoint folder. */
function fakeRun(dir: string): string[] {
  mkdirSync(join(dir, 'checkpoints', 'ckpt-000000100'), { recursive: true });
  writeFileSync(join(dir, 'checkpoints', 'ckpt-000000100', 'agent.msgpack'), 'weights');
  writeFileSync(join(dir, 'config.json'), line({ config: { env: 'cartpole-swingup', aux: 'none', aug: 'none', seed: 3, actionRepeat: 8 }, version: '0.1.0' }));
  writeFileSync(join(dir, 'status.json'), line({ state: 'finished', agentStep: 500, envStep: 4000 }));
  writeFileSync(join(dir, 'eval.csv'), 'envStep,mean\n0,1\n2000,2\n4000,3\n');
  writeFileSync(join(dir, 'machine.jsonl'), `${line({ cpuModel: 'x', fromAgentStep: 0 })}\n`);
  const lines: string[] = [];
  for (let envStep = 0; envStep <= 4000; envStep += 250) {
    if (envStep % 2000 === 0) lines.push(line({ type: 'eval', envStep, agentStep: envStep / 8, mean: envStep / 1000, std: 0, returns: [envStep / 1000] }));
    if (envStep > 0) {
      lines.push(line({ type: 'episode', envStep, agentStep: envStep / 8, return: envStep }));
      lines.push(line({ type: 'train', envStep, agentStep: envStep / 8, wallTime: envStep / 100, updatesPerSec: 2, criticLoss: envStep }));
      lines.push(line({ type: 'checkpoint', envStep, agentStep: envStep / 8, path: 'x' }));
    }
  }
  lines.push(line({ type: 'resume', envStep: 1000, agentStep: 125, checkpoint: 'x' }));
  writeFileSync(join(dir, 'metrics.jsonl'), `${lines.join('\n')}\n{"type":"train","envSt`);
  return lines;
}

describe('digestMetrics', () => {
  it('keeps every eval and resume record and the last train and episode record of each 1,000 env steps', () => {
    const text = fakeRun(join(tmp, 'run')).join('\n');
    const { lines, records } = digestMetrics(`${text}\nnot json`);
    const parsed = lines.map((l) => JSON.parse(l) as { type: string; envStep: number });
    expect(parsed.filter((r) => r.type === 'eval').map((r) => r.envStep)).toEqual([0, 2000, 4000]);
    expect(parsed.filter((r) => r.type === 'train').map((r) => r.envStep)).toEqual([1000, 2000, 3000, 4000]);
    expect(parsed.filter((r) => r.type === 'episode').map((r) => r.envStep)).toEqual([1000, 2000, 3000, 4000]);
    expect(parsed.filter((r) => r.type === 'resume')).toHaveLength(1);
    expect(parsed.some((r) => r.type === 'checkpoint')).toBe(false);
    // 16 train + 16 episode records, 4 of each kept; 16 checkpoint records and one bad line left out
    expect(records).toEqual({ eval: 3, train: 4, episode: 4, dropped: 12 + 12 + 16 + 1 });
    // in the order of the log
    const steps = parsed.filter((r) => r.type === 'train').map((r) => r.envStep);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
  });
});

describe('exportRun', () => {
  it('copies the small files and the digest, never checkpoints, and the copy reads as the same run', () => {
    const run = join(tmp, 'run');
    fakeRun(run);
    const out = join(tmp, 'results', 'pixel-sac-s3');
    const result = exportRun(run, out);
    expect(result.files).toEqual(['config.json', 'status.json', 'eval.csv', 'machine.jsonl', 'metrics.jsonl']);
    expect(readdirSync(out).sort()).toEqual(['config.json', 'eval.csv', 'machine.jsonl', 'metrics.jsonl', 'status.json']);
    expect(readFileSync(join(out, 'config.json'), 'utf8')).toBe(readFileSync(join(run, 'config.json'), 'utf8'));
    const original = loadRun(run)!;
    const copy = loadRun(out)!;
    expect(copy).toMatchObject({ env: 'cartpole-swingup', variant: 'pixel-sac', seed: 3, state: 'finished', envStep: 4000, evals: original.evals });
    expect(copy.updatesPerSec).toBe(original.updatesPerSec);
  });

  it('replaces an earlier export as a whole and leaves no temporary folder', () => {
    const run = join(tmp, 'run');
    fakeRun(run);
    const out = join(tmp, 'results', 'r');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'stale.txt'), 'from an older export');
    exportRun(run, out);
    expect(existsSync(join(out, 'stale.txt'))).toBe(false);
    expect(readdirSync(join(tmp, 'results'))).toEqual(['r']);
  });

  it('refuses a folder that is not a run, and an output inside the run', () => {
    const run = join(tmp, 'run');
    fakeRun(run);
    expect(() => exportRun(join(tmp, 'nothing'), join(tmp, 'out'))).toThrow(/is not a run directory \(it needs config\.json and metrics\.jsonl\)/);
    expect(() => exportRun(run, join(run, 'results'))).toThrow(/is the run directory or inside it/);
    expect(() => exportRun(run, run)).toThrow(/is the run directory or inside it/);
    expect(existsSync(join(run, 'results'))).toBe(false);
  });
});

describe('probe results in the report', () => {
  it("carries a run's probe.json through the export into the report's table, per variant over seeds", async () => {
    for (const [seed, trained] of [[1, 0.4], [2, 0.6]] as const) {
      const run = join(tmp, `run${seed}`);
      fakeRun(run);
      writeFileSync(join(run, 'probe.json'), line({ scores: { trained: { meanR2: trained }, initial: { meanR2: -0.05 } } }));
      exportRun(run, join(tmp, 'results', `pixel-sac-s${seed}`));
    }
    expect(readdirSync(join(tmp, 'results', 'pixel-sac-s1'))).toContain('probe.json');
    const { summary, files } = await buildReport(join(tmp, 'results'), { out: join(tmp, 'report'), band: 'std', alignment: 'common' });
    expect(summary.groups[0]!.probe!.trained.mean).toBeCloseTo(0.5, 12);
    expect(summary.groups[0]!.probe!.trained.std).toBeCloseTo(Math.sqrt(0.02), 12);
    const md = readFileSync(files.markdown, 'utf8');
    expect(md).toContain('| probe R² trained | probe R² initial |');
    expect(md).toContain('| 0.500 ± 0.141 | -0.050 ± 0.000 |');
  });
});

describe('report variants', () => {
  it('names a run by its aux loss and any augmentation that is not one random crop', () => {
    expect(variantOf({ aux: 'curl', aug: 'crop', augK: 1, augM: 1 })).toBe('curl');
    expect(variantOf({ aux: 'none' })).toBe('none');
    expect(variantOf({ aux: 'none', aug: 'none' })).toBe('pixel-sac');
    expect(variantOf({ aux: 'none', aug: 'shift', augK: 2, augM: 2 })).toBe('none-aug-shift-k2-m2');
    expect(variantOf({ aux: 'curl', aug: 'crop+jitter' })).toBe('curl-aug-crop+jitter');
    expect(variantOf({ aux: 'curl', aug: 'crop', precision: 'bf16' })).toBe('curl-bf16');
    expect(variantOf({ aux: 'none', aug: 'none', precision: 'fp32' })).toBe('pixel-sac');
  });

  it("takes the paper's pixel SAC for the run without augmentation only", () => {
    expect(publishedScores('cartpole-swingup', 'curl')).toEqual({ at100k: 582, at500k: 841, std100k: 146 });
    expect(publishedScores('cartpole-swingup', 'pixel-sac')).toEqual({ at100k: 419, at500k: 419, std100k: 40 });
    expect(publishedScores('cartpole-swingup', 'none')).toBeUndefined();
    expect(publishedScores('cartpole-swingup', 'curl-bf16')).toEqual(publishedScores('cartpole-swingup', 'curl'));
    expect(publishedScores('cartpole-swingup', 'curl-aug-shift')).toBeUndefined();
    expect(publishedScores('toy-reach', 'curl')).toBeUndefined();
  });

  it('marks the paper at 100k with its standard deviation, and gives pixel SAC a colour of its own', () => {
    const points = [{ envStep: 0, mean: 1, std: 1, lo: 0, hi: 2, n: 2 }, { envStep: 60_000, mean: 1, std: 1, lo: 0, hi: 2, n: 2 }];
    const short = curvesSpec([{ env: 'cartpole-swingup', variant: 'curl', aux: 'curl', seeds: 2, points: points.slice(0, 1), paper: { at100k: 582, at500k: 841 } }], { band: 'std' }) as unknown as { data: { values: Array<Record<string, unknown>> } };
    // a curve far short of 100k gets no mark
    expect(short.data.values.some((v) => v.paper)).toBe(false);
    const spec = curvesSpec(
      [
        { env: 'cartpole-swingup', variant: 'none', aux: 'none', seeds: 2, points },
        { env: 'cartpole-swingup', variant: 'pixel-sac', aux: 'none', seeds: 2, points, paper: { at100k: 419, at500k: 419, std100k: 40 } },
      ],
      { band: 'std' },
    ) as unknown as { data: { values: Array<Record<string, unknown>> }; spec: { layer: Array<{ encoding: { color: { scale: { domain: string[]; range: string[] } } } }> } };
    expect(spec.data.values.filter((v) => v.paper)).toEqual([{ env: 'cartpole-swingup', variant: 'pixel-sac', envStep: 100_000, mean: 419, lo: 379, hi: 459, paper: true }]);
    const { domain, range } = spec.spec.layer[0]!.encoding.color.scale;
    expect(domain).toEqual(['none', 'pixel-sac']);
    expect(new Set(range).size).toBe(2);
    expect(spec.spec.layer).toHaveLength(5);
  });
});

describe('cpuFlags', () => {
  it('reads the flags that decide bf16 from /proc/cpuinfo text', () => {
    expect(cpuFlags('processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 sse\n')).toEqual(['avx2', 'avx512f', 'avx512_bf16']);
    expect(cpuFlags('no flags line')).toEqual([]);
  });
});

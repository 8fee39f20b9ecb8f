import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { presetsDir, resolveConfig } from '../../src/config/resolve.js';
import { expandSweep, loadSweepFile } from '../../experiments/sweep/spec.js';
import { auxNames } from '../../src/config/schema.js';

const experiments = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'experiments');
const presetNames = readdirSync(presetsDir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
const paperTasks: Record<string, number> = {
  'cartpole-swingup': 8, 'cartpole-balance': 8, 'finger-spin': 2, 'walker-walk': 2,
  'reacher-easy': 4, 'cheetah-run': 4, 'ball_in_cup-catch': 4, 'pendulum-swingup': 4,
};

describe('presets', () => {
  it('has one paper preset per task and at least four CPU presets', () => {
    for (const task of Object.keys(paperTasks)) expect(presetNames).toContain(task);
    expect(presetNames.filter((n) => n.endsWith('-cpu')).length).toBeGreaterThanOrEqual(4);
  });

  it.each(presetNames)('%s validates against the config schema and names its env', (name) => {
    const raw = JSON.parse(readFileSync(join(presetsDir, `${name}.json`), 'utf8')) as { env?: string };
    expect(typeof raw.env).toBe('string');
    const { config } = resolveConfig({ preset: name });
    expect(config.env).toBe(raw.env);
    // Task presets and their CPU variants are named after their env; others (e.g. start) may use any env.
    if (name in paperTasks || name.endsWith('-cpu')) expect(name.replace(/-cpu$/, '')).toBe(config.env);
  });

  it.each(Object.entries(paperTasks))('%s uses the paper setup (action repeat %i)', (task, repeat) => {
    const { config } = resolveConfig({ flags: { env: task } });
    expect(config).toMatchObject({
      actionRepeat: repeat, imageSize: 100, cropSize: 84, frameStack: 3, batchSize: 512, replayCapacity: 100_000,
      initSteps: 1000, hiddenDim: 1024, steps: 500_000, evalEpisodes: 10, lr: task === 'cheetah-run' ? 2e-4 : 1e-3,
    });
  });

  it.each(presetNames.filter((n) => n.endsWith('-cpu')))('%s is sized for a 2-core CPU and overrides every paper-scale field', (name) => {
    // The task preset applies first, so the CPU preset must replace all of its expensive fields.
    const { config } = resolveConfig({ preset: name });
    const agentSteps = config.steps / config.actionRepeat;
    // Measured on wasm, one core: a CURL update at batch 32, crop 48, hidden 256 takes 0.37-0.41 s,
    // so 20 minutes hold about 2500 agent steps with evaluation. Nothing bigger per update.
    expect(config.batchSize * config.cropSize ** 2).toBeLessThanOrEqual(32 * 48 ** 2);
    expect(agentSteps).toBeLessThanOrEqual(2500);
    expect(config.hiddenDim).toBeLessThanOrEqual(256);
    expect(config.replayCapacity).toBeLessThanOrEqual(20_000);
    // Paper tasks keep the paper's action repeat; the built-in toy task has no paper value.
    if (config.env in paperTasks) expect(config.actionRepeat).toBe(paperTasks[config.env]);
    expect(config.steps % config.evalEvery).toBe(0);
  });
});

describe('committed sweep files', () => {
  it('curl-vs-pixel-sac-cpu compares curl and none on >= 2 tasks with >= 3 seeds using CPU presets', () => {
    const path = join(experiments, 'curl-vs-pixel-sac-cpu.json');
    const sweep = expandSweep(loadSweepFile(path), { baseDir: experiments });
    expect(sweep.dir).toBe(join(experiments, '..', 'runs', 'curl-vs-pixel-sac-cpu'));
    expect(new Set(sweep.runs.map((r) => r.env)).size).toBeGreaterThanOrEqual(2);
    expect(new Set(sweep.runs.map((r) => r.seed)).size).toBeGreaterThanOrEqual(3);
    expect(new Set(sweep.runs.map((r) => r.aux))).toEqual(new Set(['curl', 'none']));
    for (const run of sweep.runs) expect(run.preset).toBe(`${run.env}-cpu`);
  });

  it('objectives compares every --aux objective on the same tasks and seeds', () => {
    const sweep = expandSweep(loadSweepFile(join(experiments, 'objectives.json')), { baseDir: experiments });
    expect(new Set(sweep.runs.map((r) => r.aux))).toEqual(new Set(auxNames));
    const cells = (aux: string) => sweep.runs.filter((r) => r.aux === aux).map((r) => `${r.env}/${r.seed}`).sort().join();
    for (const aux of auxNames) expect(cells(aux), aux).toBe(cells('curl'));
  });

  it('objectives-probe runs every --aux objective at the paper preset, 20k steps, 2 seeds', () => {
    const sweep = expandSweep(loadSweepFile(join(experiments, 'objectives-probe.json')), { baseDir: experiments });
    expect(new Set(sweep.runs.map((r) => r.aux))).toEqual(new Set(auxNames));
    expect(sweep.runs).toHaveLength(auxNames.length * 2);
    for (const run of sweep.runs) expect(run).toMatchObject({ env: 'cartpole-swingup', preset: 'cartpole-swingup-paper', overrides: { steps: 20_000 } });
  });

  it('cartpole-swingup-100k holds CURL, SAC with crops and pixel SAC without augmentation', () => {
    const sweep = expandSweep(loadSweepFile(join(experiments, 'cartpole-swingup-100k.json')), { baseDir: experiments });
    expect(sweep.runs.map((r) => [r.variant, r.aux, r.overrides.aug ?? 'crop'])).toEqual(
      [1, 2, 3].flatMap(() => [['curl', 'curl', 'crop'], ['none', 'none', 'crop'], ['pixel-sac', 'none', 'none']]),
    );
  });

  it('curl-vs-pixel-sac expands to the paper grid', () => {
    const sweep = expandSweep(loadSweepFile(join(experiments, 'curl-vs-pixel-sac.json')), { baseDir: experiments });
    expect(sweep.runs).toHaveLength(6 * 10 * 2);
  });
});

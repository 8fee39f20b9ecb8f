import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodePng } from '../../envs/image.js';
import { train } from '../../src/loop/train.js';
import { readMetrics, type MetricsRecord } from '../../src/run/metrics.js';
import { eventFiles, readEventFile, tensorBoardDir } from '../../src/run/tensorboard/event-files.js';
import type { DecodedEvent } from '../../src/run/tensorboard/events.js';
import { runWholeAndResumed, tempDir, tinyConfig } from './helpers.js';

/** Every scalar of a run's event files, in file order, as [tag, step, value]. */
function scalars(runDir: string): Array<[string, number, number]> {
  return events(runDir).flatMap((e) => (e.summary?.value ?? []).filter((v) => v.simpleValue !== undefined || (!v.image && !v.tensor)).map((v): [string, number, number] => [v.tag, e.step, v.simpleValue ?? 0]));
}

function events(runDir: string): DecodedEvent[] {
  const dir = tensorBoardDir(runDir);
  return eventFiles(dir).flatMap((name) => readEventFile(join(dir, name)));
}

const snake = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();

/** The scalars metrics.jsonl says the event files must hold, spelled out here independently of run-log.ts. */
function expectedScalars(records: readonly MetricsRecord[]): Array<[string, number, number]> {
  const perf: Record<string, string> = { agentStep: 'perf/agent_step', wallTime: 'perf/wall_time', updates: 'perf/updates', envStepsPerSec: 'perf/env_steps_per_sec', updatesPerSec: 'perf/updates_per_sec' };
  const out: Array<[string, number, number]> = [];
  for (const r of records) {
    if (r.type === 'train') {
      for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && k !== 'envStep') out.push([perf[k] ?? `train/${snake(k)}`, r.envStep, Math.fround(v)]);
    } else if (r.type === 'eval') {
      out.push(['eval/return', r.envStep, Math.fround(r.mean)], ['eval/return_std', r.envStep, Math.fround(r.std)]);
      out.push(['eval/return_min', r.envStep, Math.fround(Math.min(...r.returns!))], ['eval/return_max', r.envStep, Math.fround(Math.max(...r.returns!))]);
    } else if (r.type === 'episode') {
      out.push(['episode/return', r.envStep, Math.fround(r.return)], ['episode/length', r.envStep, r.length]);
    }
  }
  return out;
}

const timing = new Set(['perf/wall_time', 'perf/env_steps_per_sec', 'perf/updates_per_sec']);

describe('TensorBoard event files of a training run', () => {
  it('hold every number of metrics.jsonl at its env step, the config as text and each evaluation\'s frames', async () => {
    const config = tinyConfig({ steps: 130 * 4, evalEvery: 60 * 4 });
    const outcome = await train({ config, runDir: join(tempDir(), 'run'), progress: 'none', log: () => {} });
    expect(outcome.state).toBe('finished');
    const files = eventFiles(tensorBoardDir(outcome.runDir));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^events\.out\.tfevents\.\d{10}\.[\w.-]+$/);

    const records = readMetrics(join(outcome.runDir, 'metrics.jsonl'));
    const expected = expectedScalars(records);
    expect(expected.filter(([tag]) => tag.startsWith('train/')).length).toBeGreaterThan(10);
    expect(expected.some(([tag]) => tag === 'episode/return')).toBe(false); // no episode ends in 130 agent steps
    expect(scalars(outcome.runDir)).toEqual(expected);

    const all = events(outcome.runDir);
    expect(all[0]!.fileVersion).toBe('brain.Event:2');
    const text = all.flatMap((e) => (e.summary?.value ?? []).filter((v) => v.tag === 'config').map((v) => ({ step: e.step, v })));
    expect(text).toHaveLength(1);
    expect(text[0]!.step).toBe(0);
    expect(text[0]!.v.metadata?.pluginData?.pluginName).toBe('text');
    const markdown = Buffer.from(text[0]!.v.tensor!.stringVal![0]!).toString();
    const stored = JSON.parse(readFileSync(join(outcome.runDir, 'config.json'), 'utf8')).config as Record<string, unknown>;
    for (const [field, value] of Object.entries(stored)) expect(markdown).toContain(`| ${field} | ${typeof value === 'string' ? value : JSON.stringify(value)} |`);

    const images = all.flatMap((e) => (e.summary?.value ?? []).filter((v) => v.image).map((v) => ({ step: e.step, image: v.image! })));
    expect(images.map((i) => i.step)).toEqual(records.filter((r) => r.type === 'eval').map((r) => r.envStep));
    // 16 of the first episode's 251 frames (reset + 250 steps), 8 a row, 2-pixel gaps
    const png = decodePng(Buffer.from(images[0]!.image.encodedImageString));
    expect([png.width, png.height, images[0]!.image.width, images[0]!.image.height]).toEqual([8 * 16 + 9 * 2, 2 * 16 + 3 * 2, png.width, png.height]);
  });

  it('a resumed run continues in a new file with no step twice: one unbroken curve equal to a run that never stopped', async () => {
    const config = tinyConfig({ backend: 'wasm' });
    // stopped mid-episode at agent step 131, between checkpoints (the stop writes one at 131)
    const { whole, dir } = await runWholeAndResumed(config, 131);
    const files = eventFiles(tensorBoardDir(dir));
    expect(files).toHaveLength(2);
    const second = readEventFile(join(tensorBoardDir(dir), files[1]!));
    // the restart marker just past the checkpoint's step, then the config at it
    expect(second[1]!.sessionLog?.status).toBe(1);
    expect(second[1]!.step).toBe(131 * 4 + 1);
    expect(second[2]!.summary?.value[0]?.tag).toBe('config');

    const resumed = scalars(dir);
    const keys = resumed.map(([tag, step]) => `${tag}@${step}`);
    expect(new Set(keys).size).toBe(keys.length);
    const withoutTiming = (s: Array<[string, number, number]>) => s.filter(([tag]) => !timing.has(tag));
    expect(withoutTiming(resumed)).toEqual(withoutTiming(scalars(whole.runDir)));
    expect(resumed).toEqual(expectedScalars(readMetrics(join(dir, 'metrics.jsonl'))));
  });

  it('a run that crashed after its checkpoint and resumed loses its post-checkpoint events, not its earlier ones', async () => {
    const config = tinyConfig({ steps: 100 * 4, checkpointEvery: 40 * 4, evalEvery: 40 * 4, logEvery: 10 * 4 });
    const runDir = join(tempDir(), 'run');
    // an error at agent step 95: the last periodic checkpoint (80) is kept, no final one
    const failed = await train({
      config,
      runDir,
      progress: 'none',
      log: () => {},
      onStart: (trainer) => {
        const original = trainer.agent.update.bind(trainer.agent);
        trainer.agent.update = async (batch, step) => {
          const metrics = await original(batch, step);
          return trainer.agentStep === 95 ? { ...metrics, criticLoss: Number.NaN } : metrics;
        };
      },
    });
    expect(failed.state).toBe('failed');
    expect(Math.max(...scalars(runDir).map(([, step]) => step))).toBeGreaterThan(80 * 4);
    const resumed = await train({ resume: runDir, progress: 'none', log: () => {} });
    expect(resumed.state).toBe('finished');
    const keys = scalars(runDir).map(([tag, step]) => `${tag}@${step}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(scalars(runDir)).toEqual(expectedScalars(readMetrics(join(runDir, 'metrics.jsonl'))));
  });

  it('--no-tensorboard writes no event file', async () => {
    const outcome = await train({ config: tinyConfig({ steps: 70 * 4, tensorboard: false }), runDir: join(tempDir(), 'run'), progress: 'none', log: () => {} });
    expect(outcome.state).toBe('finished');
    expect(existsSync(tensorBoardDir(outcome.runDir))).toBe(false);
  });
});

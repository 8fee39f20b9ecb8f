/*
 * TensorBoard itself reads a run's event files: its EventAccumulator, and a
 * `tensorboard --logdir` server's HTTP API, find what metrics.jsonl says.
 * The Python with the `tensorboard` package comes from .ci/run (see
 * test/python-env.ts); nothing is installed here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodePng } from '../../envs/image.js';
import { train } from '../../src/loop/train.js';
import { readMetrics, type MetricsRecord } from '../../src/run/metrics.js';
import { eventFiles, tensorBoardDir } from '../../src/run/tensorboard/event-files.js';
import { tempDir, tinyConfig } from '../loop/helpers.js';
import { findTestPython, pipInstallHint, runPythonJson } from '../python-env.js';
import { pidsWithArg } from '../remote/helpers.js';

const python = findTestPython(['tensorboard']);
if (!python) console.warn(`skipping the TensorBoard tests: no Python with the tensorboard package (${pipInstallHint})`);

describe('the TensorBoard tests in CI', () => {
  it.runIf(process.env.CI === 'true')('find a Python with tensorboard (.ci/run installs it)', () => {
    expect(python, `no Python with tensorboard: ${pipInstallHint}`).toBeTruthy();
  });
});

const snake = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
const perf: Record<string, string> = { agentStep: 'perf/agent_step', wallTime: 'perf/wall_time', updates: 'perf/updates', envStepsPerSec: 'perf/env_steps_per_sec', updatesPerSec: 'perf/updates_per_sec' };

/** tag -> [[step, value as float32]], in step order, from metrics.jsonl. */
function expectedScalars(records: readonly MetricsRecord[]): Record<string, Array<[number, number]>> {
  const out: Record<string, Array<[number, number]>> = {};
  const add = (tag: string, step: number, value: number): void => void (out[tag] ??= []).push([step, Math.fround(value)]);
  for (const r of records) {
    if (r.type === 'train') {
      for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && k !== 'envStep') add(perf[k] ?? `train/${snake(k)}`, r.envStep, v);
    } else if (r.type === 'eval') {
      add('eval/return', r.envStep, r.mean);
      add('eval/return_std', r.envStep, r.std);
      add('eval/return_min', r.envStep, Math.min(...r.returns!));
      add('eval/return_max', r.envStep, Math.max(...r.returns!));
    } else if (r.type === 'episode') {
      add('episode/return', r.envStep, r.return);
      add('episode/length', r.envStep, r.length);
    }
  }
  return out;
}

const ACCUMULATOR = `
import base64, json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
args = json.load(sys.stdin)
ea = EventAccumulator(args["dir"], size_guidance={"scalars": 0, "images": 0, "tensors": 0})
ea.Reload()
tags = ea.Tags()
print(json.dumps({
    "scalars": {t: [[e.step, e.value] for e in ea.Scalars(t)] for t in tags["scalars"]},
    "tensors": {t: [{"step": e.step, "plugin": ea.SummaryMetadata(t).plugin_data.plugin_name,
                     "text": [s.decode("utf-8") for s in e.tensor_proto.string_val]} for e in ea.Tensors(t)] for t in tags["tensors"]},
    "images": {t: [{"step": e.step, "width": e.width, "height": e.height,
                    "png": base64.b64encode(e.encoded_image_string).decode("ascii")} for e in ea.Images(t)] for t in tags["images"]},
}))
`;

interface Accumulated {
  scalars: Record<string, Array<[number, number]>>;
  tensors: Record<string, Array<{ step: number; plugin: string; text: string[] }>>;
  images: Record<string, Array<{ step: number; width: number; height: number; png: string }>>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const response = await fetch(url);
    return response.ok ? ((await response.json()) as T) : undefined;
  } catch {
    return undefined; // not listening yet
  }
}

describe.skipIf(!python)('TensorBoard reads the event files of a run that was stopped and resumed', () => {
  let runDir = '';
  let records: MetricsRecord[] = [];
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    const config = tinyConfig({ steps: 200 * 4, evalEvery: 60 * 4, checkpointEvery: 50 * 4 });
    runDir = join(tempDir(), 'runs', 'tiny-s3');
    const first = await train({
      config,
      runDir,
      progress: 'none',
      log: () => {},
      onStart: (trainer, shutdown) =>
        trainer.events.subscribe((e) => {
          if (e.type === 'transition' && e.agentStep === 131) shutdown.request({ kind: 'signal', signal: 'SIGINT' });
        }),
    });
    expect(first.state).toBe('interrupted');
    const second = await train({ resume: runDir, progress: 'none', log: () => {} });
    expect(second.state).toBe('finished');
    expect(eventFiles(tensorBoardDir(runDir))).toHaveLength(2);
    records = readMetrics(join(runDir, 'metrics.jsonl'));
  });

  afterEach(async () => {
    for (const server of servers.splice(0)) {
      if (server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((resolve) => server.once('exit', resolve));
        server.kill('SIGTERM');
        await exited;
      }
    }
  });

  it('EventAccumulator finds every scalar tag at the right steps with the right values, the config text and the frames', () => {
    const seen = runPythonJson<Accumulated>(python!, ACCUMULATOR, { dir: tensorBoardDir(runDir) });
    const expected = expectedScalars(records);
    expect(Object.keys(expected).length).toBeGreaterThan(20);
    expect(Object.keys(seen.scalars).sort()).toEqual(Object.keys(expected).sort());
    for (const [tag, points] of Object.entries(expected)) expect(seen.scalars[tag], tag).toEqual(points);

    // the config at step 0, and again where the resumed process took over
    const resumeStep = records.find((r) => r.type === 'resume')!.envStep;
    expect(seen.tensors.config!.map((t) => [t.step, t.plugin])).toEqual([[0, 'text'], [resumeStep, 'text']]);
    expect(seen.tensors.config![0]!.text[0]).toContain('| env | toy-reach |');

    const evalSteps = records.filter((r) => r.type === 'eval').map((r) => r.envStep);
    expect(seen.images['eval/frames']!.map((i) => i.step)).toEqual(evalSteps);
    for (const image of seen.images['eval/frames']!) {
      const png = decodePng(Buffer.from(image.png, 'base64'));
      expect([png.width, png.height]).toEqual([image.width, image.height]);
      expect([image.width, image.height]).toEqual([8 * 16 + 9 * 2, 2 * 16 + 3 * 2]);
    }
  });

  it('a `tensorboard --logdir` server answers its scalars HTTP API with the same numbers', async () => {
    const logdir = dirname(runDir);
    const run = `${basename(runDir)}/tb`;
    const port = await freePort();
    const server = spawn(python!, ['-m', 'tensorboard.main', '--logdir', logdir, '--host', '127.0.0.1', '--port', String(port), '--reload_interval', '1'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    servers.push(server);
    let log = '';
    server.stderr!.on('data', (chunk: Buffer) => void (log += chunk.toString()));
    const base = `http://127.0.0.1:${port}`;
    const expected = expectedScalars(records);
    // until the server has loaded every tag (it reads the files in the background)
    let tags: Record<string, Record<string, unknown>> | undefined;
    for (let tries = 0; tries < 240; tries++) {
      tags = await getJson<Record<string, Record<string, unknown>>>(`${base}/data/plugin/scalars/tags`);
      if (tags?.[run] && Object.keys(tags[run]!).length === Object.keys(expected).length) break;
      if (server.exitCode !== null) throw new Error(`tensorboard exited with ${server.exitCode}:\n${log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(Object.keys(tags?.[run] ?? {}).sort(), log.slice(-2000)).toEqual(Object.keys(expected).sort());
    for (const [tag, points] of Object.entries(expected)) {
      const answer = await getJson<Array<[number, number, number]>>(`${base}/data/plugin/scalars/scalars?run=${encodeURIComponent(run)}&tag=${encodeURIComponent(tag)}`);
      expect(answer?.map(([, step, value]) => [step, value]), tag).toEqual(points);
    }
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
    // its data server (a child process that reads the logdir) went with it
    for (let i = 0; i < 50 && pidsWithArg(logdir).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(pidsWithArg(logdir)).toEqual([]);
  });
});

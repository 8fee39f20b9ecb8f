import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/resolve.js';
import type { Config } from '../../src/config/schema.js';
import { train } from '../../src/loop/train.js';
import { readMetrics, type MetricsRecord } from '../../src/run/metrics.js';

/** A run small enough for CI: 16x16 frames of the pure-JS toy task, a tiny network, a few hundred agent steps. */
export function tinyConfig(overrides: Partial<Config> = {}): Config {
  return validateConfig({
    env: 'toy-reach',
    backend: 'cpu',
    aux: 'curl',
    seed: 3,
    imageSize: 16,
    cropSize: 12,
    frameStack: 2,
    actionRepeat: 4,
    steps: 240 * 4,
    initSteps: 60,
    batchSize: 8,
    microBatch: 8,
    replayCapacity: 500,
    hiddenDim: 16,
    latentDim: 8,
    numConvLayers: 2,
    numFilters: 4,
    evalEvery: 100 * 4,
    evalEpisodes: 1,
    logEvery: 25 * 4,
    checkpointEvery: 80 * 4,
    keepCheckpoints: 2,
    runsDir: tempDir(),
    ...overrides,
  });
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'curl-loop-'));
}

const timingFields = new Set(['wallTime', 'envStepsPerSec', 'updatesPerSec', 'path']);

/** Records without wall-clock fields and without bookkeeping records, for comparing two runs' numbers. */
export function comparable(records: readonly MetricsRecord[]): Array<Record<string, unknown>> {
  return records
    .filter((r) => r.type === 'train' || r.type === 'episode' || r.type === 'eval')
    .map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !timingFields.has(k))));
}

export const repoRoot = join(import.meta.dirname, '..', '..');

export { gifFrameCount } from '../gif.js';

/**
 * The same run twice: once straight through, once stopped by a SIGINT request
 * at `stopAtAgentStep` and resumed from its checkpoint (`beforeResume` sees the
 * stopped run's directory first; `resumeOverrides` and `resumeLog` go to the
 * resumed train()). Returns both results and both runs' comparable metrics;
 * the caller asserts what its case needs.
 */
export async function runWholeAndResumed(
  config: Config,
  stopAtAgentStep: number,
  options: { beforeResume?: (runDir: string) => void; resumeOverrides?: Partial<Config>; resumeLog?: (line: string) => void } = {},
) {
  const whole = await train({ config, runDir: join(tempDir(), 'whole'), progress: 'none', log: () => {} });
  const dir = join(tempDir(), 'parts');
  const first = await train({
    config,
    runDir: dir,
    progress: 'none',
    log: () => {},
    onStart: (trainer, shutdown) =>
      trainer.events.subscribe((e) => {
        if (e.type === 'transition' && e.agentStep === stopAtAgentStep) shutdown.request({ kind: 'signal', signal: 'SIGINT' });
      }),
  });
  options.beforeResume?.(dir);
  const second = first.state === 'interrupted'
    ? await train({ resume: dir, resumeOverrides: options.resumeOverrides, progress: 'none', log: options.resumeLog ?? (() => {}) })
    : null;
  return {
    whole,
    first,
    second,
    dir,
    expected: comparable(readMetrics(join(whole.runDir, 'metrics.jsonl'))),
    actual: comparable(readMetrics(join(dir, 'metrics.jsonl'))),
  };
}

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/resolve.js';
import type { Config } from '../../src/config/schema.js';
import type { MetricsRecord } from '../../src/run/metrics.js';

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

/** Number of images in a GIF, by walking its blocks (GIF89a: extensions, image descriptors, trailer). */
export function gifFrameCount(gif: Uint8Array): number {
  const skipSubBlocks = (at: number): number => {
    while (gif[at] !== 0) at += gif[at]! + 1;
    return at + 1;
  };
  const colourTable = (flags: number): number => (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0);
  let at = 13 + colourTable(gif[10]!);
  let frames = 0;
  for (;;) {
    const block = gif[at];
    if (block === 0x3b) return frames;
    if (block === 0x21) at = skipSubBlocks(at + 2);
    else if (block === 0x2c) {
      frames += 1;
      at = skipSubBlocks(at + 10 + colourTable(gif[at + 9]!) + 1);
    } else throw new Error(`not a GIF block at byte ${at}: 0x${(block ?? 0).toString(16)}`);
  }
}

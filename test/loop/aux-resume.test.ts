/*
 * The aux objectives in a whole run: their metrics reach metrics.jsonl, and a
 * run stopped half way and resumed from its checkpoint (weights, Adam slots,
 * BYOL's target projector, CURL's and MoCHi's key queues, the memory bank)
 * gives the numbers of one that never stopped.
 */
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { runWholeAndResumed, tinyConfig } from './helpers.js';

const cases: Array<[string, Partial<Config>, string[]]> = [
  ['curl-hard with a key queue', { aux: 'curl-hard', auxQueue: 24, auxTauPlus: 0.1 }, ['curlLoss', 'curlAccuracy', 'curlGradNorm']],
  ['byol', { aux: 'byol', auxHiddenDim: 8, auxProjDim: 4 }, ['auxLoss', 'auxAlignment', 'auxUniformity', 'auxGradNorm']],
  // the replay's indices reach the bank; the bank, its bookkeeping and its draws are checkpointed
  ['memory-bank', { aux: 'memory-bank', auxBankNegatives: 16 }, ['auxLoss', 'auxAccuracy', 'auxProximal', 'auxGradNorm']],
  ['mochi with a key queue', { aux: 'mochi', auxQueue: 24, auxHardNegatives: 8, auxMixes: 4, auxQueryMixes: 2 }, ['auxLoss', 'auxAccuracy', 'auxGradNorm']],
];

describe('aux objectives through the loop', () => {
  for (const [name, over, keys] of cases) {
    it(`${name}: metrics in metrics.jsonl; interrupted and resumed = never stopped`, async () => {
      const config = tinyConfig({ backend: 'wasm', convEngine: 'tfjs', steps: 160 * 4, checkpointEvery: 60 * 4, ...over });
      const run = await runWholeAndResumed(config, 111);
      expect(run.whole.state).toBe('finished');
      expect(run.first.state).toBe('interrupted');
      expect(run.second?.state).toBe('finished');
      const trainRecords = run.expected.filter((r) => r.type === 'train' && typeof r.criticLoss === 'number');
      expect(trainRecords.length).toBeGreaterThan(3);
      for (const k of keys) for (const r of trainRecords) expect(Number.isFinite(r[k]), k).toBe(true);
      expect(run.actual).toEqual(run.expected);
    }, 120_000);
  }
});

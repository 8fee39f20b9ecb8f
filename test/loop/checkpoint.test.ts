import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { latestCheckpoint, readLoopState, writeCheckpoint, type CheckpointWriter } from '../../src/loop/checkpoint.js';
import { tempDir } from './helpers.js';

function writer(step: number, failAt?: 'agent' | 'replay'): CheckpointWriter {
  return {
    writeAgent: async (path) => {
      writeFileSync(path, `agent ${step}`);
      if (failAt === 'agent') throw new Error('killed while writing the agent');
    },
    writeReplay: async (path) => {
      if (failAt === 'replay') throw new Error('killed while writing the replay');
      writeFileSync(path, `replay ${step}`);
    },
    loopState: () => ({ step }),
  };
}

describe('checkpoints on disk', () => {
  it('a write that dies half way leaves the previous checkpoint complete and current', async () => {
    const run = tempDir();
    const first = await writeCheckpoint(run, 10, writer(10), 3);
    await expect(writeCheckpoint(run, 20, writer(20, 'replay'), 3)).rejects.toThrow(/killed/);
    expect(latestCheckpoint(run)).toBe(first);
    expect(readdirSync(join(run, 'checkpoints')).sort()).toEqual(['ckpt-000000010', 'latest']);
    // What a kill -9 would leave: a temp directory with part of a checkpoint.
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(run, 'checkpoints', '.ckpt-000000020.tmp-99999'));
    writeFileSync(join(run, 'checkpoints', '.ckpt-000000020.tmp-99999', 'agent.msgpack'), 'partial');
    expect(latestCheckpoint(run)).toBe(first);
    expect(readLoopState<{ step: number }>(first)).toEqual({ step: 10 });
    expect(readFileSync(join(first, 'replay.msgpack'), 'utf8')).toBe('replay 10');
    // The half-written directory is never taken for a checkpoint, and the next write clears it away.
    const next = await writeCheckpoint(run, 30, writer(30), 3);
    expect(latestCheckpoint(run)).toBe(next);
    expect(readdirSync(join(run, 'checkpoints')).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('keeps the last K and replaces a checkpoint written again at the same step', async () => {
    const run = tempDir();
    for (const step of [1, 2, 3, 4]) await writeCheckpoint(run, step, writer(step), 2);
    expect(readdirSync(join(run, 'checkpoints')).filter((n) => n.startsWith('ckpt-')).sort()).toEqual(['ckpt-000000003', 'ckpt-000000004']);
    const again = await writeCheckpoint(run, 4, { ...writer(4), loopState: () => ({ step: 4, final: true }) }, 2);
    expect(readLoopState(again)).toEqual({ step: 4, final: true });
    expect(readFileSync(join(run, 'checkpoints', 'latest'), 'utf8').trim()).toBe('ckpt-000000004');
  });

  it('falls back to the newest complete checkpoint when the pointer is missing', async () => {
    const run = tempDir();
    await writeCheckpoint(run, 5, writer(5), 3);
    const newest = await writeCheckpoint(run, 6, writer(6), 3);
    writeFileSync(join(run, 'checkpoints', 'latest'), 'garbage\n');
    expect(latestCheckpoint(run)).toBe(newest);
    expect(existsSync(join(newest, 'loop.msgpack'))).toBe(true);
  });
});

/*
 * Ctrl-C during an episode of an env that cannot snapshot itself (a remote
 * process): the final checkpoint cuts the episode, as an env restart does,
 * and keeps every step before the signal. It never asks the env for a
 * snapshot, which would fail ("RemoteEnv cannot save snapshots") and leave
 * the resume to lose every step since the last periodic checkpoint.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testServerCommand } from '../../envs/remote/index.js';
import { latestCheckpoint } from '../../src/loop/checkpoint.js';
import { readMetrics, type MetricsRecord } from '../../src/run/metrics.js';
import { readStatus } from '../../src/run/status.js';
import { tinyConfig } from '../loop/helpers.js';
import { killChildrenAfterEach, runCli, scratchRoot, startCli, writePreset } from './helpers.js';

const scratch = scratchRoot('curl-faults-remote-');
killChildrenAfterEach();

describe('SIGINT in the middle of a remote episode', () => {
  it('checkpoints at the signal with the episode cut; the resume loses no step, and no process is left', async () => {
    const base = scratch();
    const preset = writePreset(base, {
      ...tinyConfig({ backend: 'wasm' }),
      runsDir: base,
      env: 'remote',
      remoteCmd: testServerCommand(['--size', '16', '--episode-length', '800']),
      // Repeat above 1 puts the remote env inside a wrapper: the checkpoint must not ask the wrapper for a snapshot either.
      actionRepeat: 2,
      steps: 400_000,
      logEvery: 50,
      evalEvery: 100_000,
      checkpointEvery: 100_000,
    });
    const dir = join(base, 'run');
    const first = startCli(['train', '--preset', preset, '--run-dir', dir, '--progress', 'plain', '--conv-workers', '0']);
    await first.waitFor(/\[train\] env step 200\//);
    first.child.kill('SIGINT');
    const stopped = await first.done;
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).not.toMatch(/could not be written|cannot save snapshots/);
    const status = readStatus(dir)!;
    expect(status.state).toBe('interrupted');
    // Mid-episode (episodes are 400 agent steps) and far from any periodic checkpoint: the checkpoint is the signal's.
    expect(status.agentStep).toBeGreaterThanOrEqual(100);
    expect(status.agentStep).toBeLessThan(400);
    expect(latestCheckpoint(dir)).toMatch(new RegExp(`ckpt-${String(status.agentStep).padStart(9, '0')}$`));

    const resumed = await runCli(['train', '--resume', dir, '--steps', String(status.envStep + 100), '--progress', 'none']);
    expect(resumed.code).toBe(0);
    expect(resumed.leftover).toEqual([]);
    const records = readMetrics(join(dir, 'metrics.jsonl'));
    const resume = records.find((r): r is Extract<MetricsRecord, { type: 'resume' }> => r.type === 'resume');
    expect(resume?.agentStep).toBe(status.agentStep);
    expect(readStatus(dir)).toMatchObject({ state: 'finished', agentStep: status.agentStep + 50 });
  });
});

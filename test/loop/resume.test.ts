import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { latestCheckpoint } from '../../src/loop/checkpoint.js';
import { train } from '../../src/loop/train.js';
import { readMetrics } from '../../src/run/metrics.js';
import { readStatus } from '../../src/run/run-dir.js';
import { comparable, repoRoot, tempDir, tinyConfig } from './helpers.js';

const bin = join(repoRoot, 'src', 'cli', 'bin.js');

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `interrupt` sends the given signals once stdout shows `afterLine`. */
function runCli(args: string[], interrupt?: { afterLine: RegExp; signals: NodeJS.Signals[]; gapMs: number }): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (interrupt && !sent && interrupt.afterLine.test(stdout)) {
        sent = true;
        interrupt.signals.forEach((signal, i) => setTimeout(() => child.kill(signal), i * interrupt.gapMs));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('interrupt and resume', () => {
  it('a run stopped half way and resumed gives the same numbers as one that never stopped (in process)', async () => {
    const config = tinyConfig({ backend: 'wasm' });
    const whole = await train({ config, runDir: join(tempDir(), 'whole'), progress: 'none', log: () => {} });
    expect(whole.state).toBe('finished');
    expect(whole.agentStep).toBe(240);

    const dir = join(tempDir(), 'parts');
    const first = await train({
      config,
      runDir: dir,
      progress: 'none',
      log: () => {},
      onStart: (trainer, shutdown) =>
        trainer.events.subscribe((e) => {
          // Mid-episode (episodes are 250 agent steps) and between checkpoints.
          if (e.type === 'transition' && e.agentStep === 131) shutdown.request({ kind: 'signal', signal: 'SIGINT' });
        }),
    });
    expect(first.state).toBe('interrupted');
    expect(first.exitCode).toBe(130);
    expect(first.agentStep).toBe(131);
    expect(readStatus(dir)?.state).toBe('interrupted');
    const second = await train({ resume: dir, progress: 'none', log: () => {} });
    expect(second.state).toBe('finished');

    const expected = comparable(readMetrics(join(whole.runDir, 'metrics.jsonl')));
    const actual = comparable(readMetrics(join(dir, 'metrics.jsonl')));
    expect(expected.filter((r) => r.type === 'train').length).toBeGreaterThan(5);
    expect(actual).toEqual(expected);
    expect(readMetrics(join(dir, 'metrics.jsonl')).some((r) => r.type === 'resume')).toBe(true);
  });

  it('SIGINT to the CLI stops with exit 130 and a checkpoint; a second SIGINT does not corrupt it; resume matches', async () => {
    const base = tempDir();
    const config = tinyConfig({ backend: 'wasm', runsDir: base });
    const preset = join(base, 'tiny.json');
    writeFileSync(preset, JSON.stringify(config));
    const interrupted = join(base, 'interrupted');
    const stopped = await runCli(['train', '--preset', preset, '--run-dir', interrupted, '--progress', 'plain'], {
      afterLine: /\[train\] env step 400\//,
      signals: ['SIGINT', 'SIGINT'],
      gapMs: 5,
    });
    expect(stopped.stderr).toMatch(/SIGINT received; stopping/);
    expect(stopped.code).toBe(130);
    const status = readStatus(interrupted)!;
    expect(status.state).toBe('interrupted');
    expect(status.agentStep).toBeLessThan(240);
    const checkpoint = latestCheckpoint(interrupted)!;
    expect(existsSync(join(checkpoint, 'agent.msgpack'))).toBe(true);
    expect(stopped.stderr).toMatch(/train --resume/);

    const resumed = await runCli(['train', '--resume', interrupted, '--progress', 'plain']);
    expect(resumed.code).toBe(0);
    expect(readStatus(interrupted)!.state).toBe('finished');
    expect(resumed.stderr).toMatch(/final eval at env step 960/);
    // The final checkpoint is reported once, after the progress output has stopped.
    expect(`${resumed.stdout}${resumed.stderr}`.match(/ckpt-000000240/g)).toHaveLength(1);
    expect(resumed.stderr).toMatch(/\ncheckpoint: .*ckpt-000000240\n/);

    const whole = await train({ config, runDir: join(base, 'whole'), progress: 'none', log: () => {} });
    expect(comparable(readMetrics(join(interrupted, 'metrics.jsonl')))).toEqual(comparable(readMetrics(join(whole.runDir, 'metrics.jsonl'))));
    expect(readFileSync(join(interrupted, 'eval.csv'), 'utf8').trim().split('\n').length).toBe(1 + 4);
  });

  it('refuses flags that would change the meaning of a resumed run', async () => {
    const base = tempDir();
    const config = tinyConfig({ backend: 'wasm', runsDir: base, steps: 40 });
    const run = await train({ config, runDir: join(base, 'short'), progress: 'none', log: () => {} });
    const refused = await runCli(['train', '--resume', run.runDir, '--lr', '0.5']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/Cannot change --lr 0\.5 \(run has 0\.001\) when resuming/);
  });
});

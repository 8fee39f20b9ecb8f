import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { latestCheckpoint } from '../../src/loop/checkpoint.js';
import { train } from '../../src/loop/train.js';
import { readMetrics } from '../../src/run/metrics.js';
import { readStatus } from '../../src/run/status.js';
import { readMachineRecords } from '../../src/run/machine-log.js';
import { cpus } from 'node:os';
import { killChildrenAfterEach, startCli, type CliResult } from '../faults/helpers.js';
import { comparable, runWholeAndResumed, tempDir, tinyConfig } from './helpers.js';

// The CLI runs under the fault tests' watchdog, and whatever a failed test left running is killed after it.
killChildrenAfterEach();

/** Runs the CLI to its end; `interrupt` sends `first` once the output shows `afterLine`, then `again` once the CLI says it is stopping. */
async function runCliWith(args: string[], interrupt?: { afterLine: RegExp; first: NodeJS.Signals; again?: NodeJS.Signals }): Promise<CliResult> {
  const cli = startCli(args);
  if (interrupt) {
    await cli.waitFor(interrupt.afterLine);
    cli.child.kill(interrupt.first);
    if (interrupt.again) {
      await cli.waitFor(new RegExp(`${interrupt.first} received; stopping`));
      cli.child.kill(interrupt.again);
    }
  }
  return cli.done;
}

describe('interrupt and resume', () => {
  it('a run stopped half way and resumed gives the same numbers as one that never stopped (in process)', async () => {
    const config = tinyConfig({ backend: 'wasm' });
    // agent step 131: mid-episode (episodes are 250 agent steps) and between checkpoints
    let stoppedState: string | undefined;
    const { whole, first, second, dir, expected, actual } = await runWholeAndResumed(config, 131, { beforeResume: (runDir) => (stoppedState = readStatus(runDir)?.state) });
    expect(whole.state).toBe('finished');
    expect(whole.agentStep).toBe(240);
    expect(first.state).toBe('interrupted');
    expect(first.exitCode).toBe(130);
    expect(first.agentStep).toBe(131);
    expect(stoppedState).toBe('interrupted');
    expect(second?.state).toBe('finished');
    expect(expected.filter((r) => r.type === 'train').length).toBeGreaterThan(5);
    expect(actual).toEqual(expected);
    expect(readMetrics(join(dir, 'metrics.jsonl')).some((r) => r.type === 'resume')).toBe(true);
    // machine.jsonl: one line per start, the second one from the checkpoint's step
    const machines = readMachineRecords(dir);
    expect(machines.map((m) => m.fromAgentStep)).toEqual([0, 131]);
    expect(machines[1]).toMatchObject({ backend: 'wasm', convEngine: config.convEngine === 'auto' ? expect.any(String) : config.convEngine, precision: 'fp32', cores: cpus().length });
    expect(machines[1]!.cpuModel.length).toBeGreaterThan(0);
  });

  it('SIGINT to the CLI stops with exit 130 and a checkpoint; a second SIGINT does not corrupt it; resume matches', async () => {
    const base = tempDir();
    const config = tinyConfig({ backend: 'wasm', runsDir: base });
    const preset = join(base, 'tiny.json');
    writeFileSync(preset, JSON.stringify(config));
    const interrupted = join(base, 'interrupted');
    const stopped = await runCliWith(['train', '--preset', preset, '--run-dir', interrupted, '--progress', 'plain'], {
      afterLine: /\[train\] env step 400\//,
      first: 'SIGINT',
      again: 'SIGINT',
    });
    expect(stopped.stderr).toMatch(/SIGINT received; stopping/);
    // the second SIGINT landed while the checkpoint was being written, and was ignored
    expect(stopped.stderr).toMatch(/SIGINT received again; finishing the current step and checkpoint/);
    expect(stopped.code).toBe(130);
    const status = readStatus(interrupted)!;
    expect(status.state).toBe('interrupted');
    expect(status.agentStep).toBeLessThan(240);
    const checkpoint = latestCheckpoint(interrupted)!;
    expect(existsSync(join(checkpoint, 'agent.msgpack'))).toBe(true);
    expect(stopped.stderr).toMatch(/train --resume/);

    const resumed = await runCliWith(['train', '--resume', interrupted, '--progress', 'plain']);
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

  it('SIGTERM (what the sweep sends) to the CLI stops with exit 143 and a checkpoint a resume finishes from', async () => {
    const base = tempDir();
    const preset = join(base, 'tiny.json');
    writeFileSync(preset, JSON.stringify(tinyConfig({ backend: 'wasm', runsDir: base, steps: 120 * 4 })));
    const dir = join(base, 'terminated');
    const stopped = await runCliWith(['train', '--preset', preset, '--run-dir', dir, '--progress', 'plain'], { afterLine: /\[train\] env step 300\//, first: 'SIGTERM' });
    expect(stopped.stderr).toMatch(/SIGTERM received; stopping after the current step and writing a checkpoint/);
    expect(stopped.code).toBe(143);
    const status = readStatus(dir)!;
    expect(status.state).toBe('interrupted');
    const checkpoint = latestCheckpoint(dir)!;
    expect(checkpoint).toMatch(new RegExp(`ckpt-${String(status.agentStep).padStart(9, '0')}$`));
    expect(readdirSync(checkpoint).sort()).toEqual(['agent.msgpack', 'loop.msgpack', 'replay.msgpack']);

    const resumed = await runCliWith(['train', '--resume', dir, '--progress', 'plain']);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`resumed from ${checkpoint} at env step ${status.envStep} (agent step ${status.agentStep})`);
    expect(status.agentStep).toBeGreaterThanOrEqual(75);
    expect(status.agentStep).toBeLessThan(120);
    expect(readStatus(dir)).toMatchObject({ state: 'finished', agentStep: 120 });
  });

  it('resumes a run saved without its replay buffer: an empty buffer, refilled by initSteps random steps before updates start again', async () => {
    const config = tinyConfig({ backend: 'wasm', saveReplay: false, steps: 200 * 4 });
    const dir = join(tempDir(), 'no-replay');
    const firstUpdates: number[] = [];
    const first = await train({
      config,
      runDir: dir,
      progress: 'none',
      log: () => {},
      onStart: (trainer, shutdown) =>
        trainer.events.subscribe((e) => {
          if (e.type === 'update') firstUpdates.push(e.agentStep);
          if (e.type === 'transition' && e.agentStep === 131) shutdown.request({ kind: 'signal', signal: 'SIGINT' });
        }),
    });
    expect(first.exitCode).toBe(130);
    const checkpoint = latestCheckpoint(dir)!;
    expect(checkpoint).toMatch(/ckpt-000000131$/);
    expect(readdirSync(checkpoint).sort()).toEqual(['agent.msgpack', 'loop.msgpack']);

    const resumedUpdates: number[] = [];
    let randomUntil = -1;
    const second = await train({
      resume: dir,
      progress: 'none',
      log: () => {},
      onStart: (trainer) => {
        randomUntil = trainer.randomUntil;
        trainer.events.subscribe((e) => e.type === 'update' && resumedUpdates.push(e.agentStep));
      },
    });
    expect(second, second.reason).toMatchObject({ state: "finished", exitCode: 0, agentStep: 200 });
    expect(randomUntil).toBe(131 + config.initSteps);
    // updates start as far after the resume as they did after the run's start
    expect(firstUpdates[0]).toBeGreaterThanOrEqual(config.initSteps);
    expect(resumedUpdates[0]! - 131).toBe(firstUpdates[0]);
    expect(readMetrics(join(dir, 'metrics.jsonl')).filter((r) => r.type === 'resume')).toHaveLength(1);
  });

  it('a MuJoCo task (cartpole-swingup) stopped mid-episode and resumed gives the same numbers as one that never stopped', async () => {
    // 125 agent steps per episode at action repeat 8: the stop at 70 falls mid-episode, which ends after the resume
    const config = tinyConfig({ env: 'cartpole-swingup', backend: 'wasm', actionRepeat: 8, steps: 160 * 8, evalEvery: 160 * 8, logEvery: 20 * 8, checkpointEvery: 80 * 8 });
    const { whole, first, second, expected, actual } = await runWholeAndResumed(config, 70);
    expect(whole).toMatchObject({ state: 'finished', agentStep: 160 });
    expect(first).toMatchObject({ state: 'interrupted', agentStep: 70 });
    expect(second).toMatchObject({ state: 'finished', agentStep: 160 });
    // the record of the episode that spans the stop, the updates on both sides of it and the evaluation after it are all compared
    expect(expected.filter((r) => r.type === 'episode').map((r) => r['length'])).toEqual([125]);
    expect(expected.filter((r) => r.type === 'eval').length).toBeGreaterThanOrEqual(1);
    expect(expected.filter((r) => r.type === 'train' && (r['updates'] as number) > 0).length).toBeGreaterThanOrEqual(4);
    expect(actual).toEqual(expected);
  });

  it('refuses flags that would change the meaning of a resumed run', async () => {
    const base = tempDir();
    const config = tinyConfig({ backend: 'wasm', runsDir: base, steps: 40 });
    const run = await train({ config, runDir: join(base, 'short'), progress: 'none', log: () => {} });
    const refused = await runCliWith(['train', '--resume', run.runDir, '--lr', '0.5']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/Cannot change --lr 0\.5 \(run has 0\.001\) when resuming/);
  });
});

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { entryToRun, readSlurmIndex, runEntries, writeSlurmIndex } from '../../experiments/sweep/slurm/index-file.js';
import { runArrayTask } from '../../experiments/sweep/slurm/task.js';
import { expandSweep, freshTrainArgs, parseSweepFile } from '../../experiments/sweep/spec.js';
import * as sweepCommand from '../../src/cli/commands/sweep.js';
import { parseAccounting, parseQueue, parseSubmitOutput, runSlurmCommand, SlurmError } from '../../experiments/sweep/slurm/commands.js';
import { arraySpec, parseSlurmTime, sbatchScript, shellQuote, type ScriptInput, type SlurmOptions } from '../../experiments/sweep/slurm/script.js';
import { judgeRun, statusLine } from '../../experiments/sweep/slurm/status.js';
import { cpusPerTaskFromEnv, threadArgsForCpus } from '../../experiments/sweep/slurm/threads.js';
import { ConfigError } from '../../src/core/errors.js';

const defaults: SlurmOptions = { cpusPerTask: 1, signalSeconds: 300, requeue: true, sbatchArgs: [] };

function input(options: Partial<SlurmOptions> = {}, taskIds: number[] = [0, 1, 2, 3]): ScriptInput {
  return {
    sweepName: 'cmp',
    indexFile: '/shared/runs/cmp/index.json',
    taskIds,
    outputPattern: '/shared/runs/cmp/logs/slurm-%A_%a.out',
    workDir: '/shared/curl-rl',
    node: '/opt/node/bin/node',
    cli: '/shared/curl-rl/src/cli/bin.js',
    options: { ...defaults, ...options },
  };
}

/** The #SBATCH directives of a script, as sbatch reads them: name -> value. */
function directives(script: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of script.split('\n')) {
    const match = /^#SBATCH (--[a-z-]+)(?:=(.*))?$/.exec(line);
    if (match) found.set(match[1]!, match[2] ?? '');
  }
  return found;
}

describe('arraySpec', () => {
  it('writes consecutive task ids as ranges and appends the throttle', () => {
    expect(arraySpec([0, 1, 2, 3])).toBe('0-3');
    expect(arraySpec([0, 1, 2, 3], 2)).toBe('0-3%2');
    expect(arraySpec([7, 0, 2, 3, 5, 9, 8], 4)).toBe('0,2-3,5,7-9%4');
    expect(arraySpec([4])).toBe('4');
    expect(arraySpec([1, 1, 2])).toBe('1-2');
  });

  it('rejects an empty or invalid list', () => {
    expect(() => arraySpec([])).toThrow(RangeError);
    expect(() => arraySpec([-1, 0])).toThrow(/non-negative/);
  });
});

describe('parseSlurmTime', () => {
  it('reads every form sbatch --time takes', () => {
    expect(parseSlurmTime('04:00:00')).toBe(4 * 3600);
    expect(parseSlurmTime('90')).toBe(90 * 60);
    expect(parseSlurmTime('10:30')).toBe(10 * 60 + 30);
    expect(parseSlurmTime('2-12')).toBe(2 * 86_400 + 12 * 3600);
    expect(parseSlurmTime('1-02:03')).toBe(86_400 + 2 * 3600 + 3 * 60);
    expect(parseSlurmTime('1-02:03:04')).toBe(86_400 + 2 * 3600 + 3 * 60 + 4);
  });

  it('rejects anything else with the accepted forms', () => {
    for (const bad of ['4h', '', '1:2:3:4', '0', 'UNLIMITED']) expect(() => parseSlurmTime(bad), bad).toThrow(/HH:MM:SS/);
  });
});

describe('sbatchScript', () => {
  it('by default: the whole array, one CPU, the checkpoint warning 300 s ahead, requeue, output appended per task', () => {
    const script = sbatchScript(input());
    const d = directives(script);
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(Object.fromEntries(d)).toEqual({
      '--job-name': 'curl-rl-cmp',
      '--array': '0-3',
      '--output': '/shared/runs/cmp/logs/slurm-%A_%a.out',
      '--open-mode': 'append',
      '--chdir': '/shared/curl-rl',
      '--ntasks': '1',
      '--cpus-per-task': '1',
      '--signal': 'B:TERM@300',
      '--requeue': '',
    });
    // Every directive comes before the first command, or sbatch ignores it.
    const lines = script.split('\n');
    const firstCommand = lines.findIndex((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(lines.slice(firstCommand + 1).some((l) => l.startsWith('#SBATCH'))).toBe(false);
    expect(lines[firstCommand]).toBe(
      "exec '/opt/node/bin/node' '/shared/curl-rl/src/cli/bin.js' sweep task '/shared/runs/cmp/index.json' --requeue-on-signal",
    );
  });

  it('names partition, time, GPUs, CPUs, throttle, warning and extra options when given, extras last', () => {
    const script = sbatchScript(
      input({ partition: 'gpu', time: '1-00:00:00', cpusPerTask: 8, gpusPerTask: 1, maxConcurrent: 10, signalSeconds: 600, sbatchArgs: ['--qos=high', '--mem=16G'] }, [0, 1, 2, 5, 6]),
    );
    const d = directives(script);
    expect(d.get('--array')).toBe('0-2,5-6%10');
    expect(d.get('--partition')).toBe('gpu');
    expect(d.get('--time')).toBe('1-00:00:00');
    expect(d.get('--cpus-per-task')).toBe('8');
    expect(d.get('--gpus-per-task')).toBe('1');
    expect(d.get('--signal')).toBe('B:TERM@600');
    expect(d.get('--qos')).toBe('high');
    expect(d.get('--mem')).toBe('16G');
    const sbatchLines = script.split('\n').filter((l) => l.startsWith('#SBATCH'));
    expect(sbatchLines.slice(-2)).toEqual(['#SBATCH --qos=high', '#SBATCH --mem=16G']);
  });

  it('with requeue off: --no-requeue, and the task does not requeue itself after the warning', () => {
    const script = sbatchScript(input({ requeue: false }));
    const d = directives(script);
    expect(d.has('--requeue')).toBe(false);
    expect(d.has('--no-requeue')).toBe(true);
    expect(d.get('--signal')).toBe('B:TERM@300');
    expect(script).not.toContain('--requeue-on-signal');
    expect(d.has('--partition') || d.has('--time') || d.has('--gpus-per-task')).toBe(false);
  });

  it('quotes the command line for bash', () => {
    const script = sbatchScript({ ...input(), node: "/opt/it's/node" });
    expect(script).toContain(`exec '/opt/it'\\''s/node'`);
    expect(shellQuote('a b$c')).toBe("'a b$c'");
  });

  it('refuses options sbatch would reject or misread, naming the flag', () => {
    expect(() => sbatchScript(input({ time: '00:04:00' }))).toThrow(/--signal-seconds 300 is not shorter than --time 00:04:00 \(240 s\)/);
    expect(() => sbatchScript(input({ cpusPerTask: 0 }))).toThrow(/--cpus-per-task 0/);
    expect(() => sbatchScript(input({ maxConcurrent: 1.5 }))).toThrow(/--max-concurrent/);
    expect(() => sbatchScript(input({ signalSeconds: 70_000 }))).toThrow(/--signal-seconds/);
    expect(() => sbatchScript(input({ partition: 'a b' }))).toThrow(/--partition/);
    expect(() => sbatchScript(input({ sbatchArgs: ['qos=high'] }))).toThrow(/--sbatch-arg=--qos=high/);
    expect(() => sbatchScript(input({ sbatchArgs: ['--x=1\n#SBATCH --y'] }))).toThrow(ConfigError);
    expect(() => sbatchScript({ ...input(), outputPattern: '/my runs/slurm-%A_%a.out' })).toThrow(/whitespace/);
    expect(() => sbatchScript({ ...input(), workDir: '/a%b' })).toThrow(/"%"/);
  });
});

describe('threads from the Slurm allocation', () => {
  it('gives the run cpus-1 conv workers, unless the sweep sets convWorkers itself', () => {
    expect(threadArgsForCpus(1, { overrides: {} })).toEqual(['--conv-workers', '0']);
    expect(threadArgsForCpus(4, { overrides: {} })).toEqual(['--conv-workers', '3']);
    expect(threadArgsForCpus(undefined, { overrides: {} })).toEqual(['--conv-workers', '0']);
    expect(threadArgsForCpus(200, { overrides: {} })).toEqual(['--conv-workers', '64']);
    expect(threadArgsForCpus(8, { overrides: { convWorkers: 2 } })).toEqual([]);
  });

  it('reads SLURM_CPUS_PER_TASK', () => {
    expect(cpusPerTaskFromEnv({ SLURM_CPUS_PER_TASK: '6' })).toBe(6);
    expect(cpusPerTaskFromEnv({})).toBeUndefined();
    expect(cpusPerTaskFromEnv({ SLURM_CPUS_PER_TASK: 'x' })).toBeUndefined();
    expect(cpusPerTaskFromEnv({ SLURM_CPUS_PER_TASK: '0' })).toBeUndefined();
  });
});

describe('reading Slurm output', () => {
  it('takes the job id from sbatch --parsable, with or without a cluster name', () => {
    expect(parseSubmitOutput('123\n')).toBe('123');
    expect(parseSubmitOutput('456;cluster1\n')).toBe('456');
    expect(() => parseSubmitOutput('sbatch: error: x')).toThrow(/did not print a job id/);
  });

  it('parses squeue -r lines of every array task, skipping what is not one', () => {
    const tasks = parseQueue(['3|12_3|15|PENDING||JobArrayTaskLimit', '0|12_0|13|RUNNING|node7|None', 'N/A|14|14|RUNNING|n1|None', ''].join('\n'));
    expect(tasks).toEqual([
      { taskId: 3, name: '12_3', jobId: '15', state: 'PENDING', reason: 'JobArrayTaskLimit' },
      { taskId: 0, name: '12_0', jobId: '13', state: 'RUNNING', node: 'node7' },
    ]);
  });

  it('parses sacct lines, keeping the newest record of a requeued task and dropping pending ranges', () => {
    const tasks = parseAccounting(
      ['12_0|REQUEUED|0:15|n1', '12_0|COMPLETED|0:0|n2', '12_1|CANCELLED by 0|0:15|n1', '12_[2-3%2]|PENDING|0:0|None assigned'].join('\n'),
    );
    expect(tasks).toEqual([
      { taskId: 0, name: '12_0', state: 'COMPLETED', exitCode: '0:0', node: 'n2' },
      { taskId: 1, name: '12_1', state: 'CANCELLED', exitCode: '0:15', node: 'n1' },
    ]);
  });
});

describe('running Slurm commands', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'slurm-cmd-'));
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('says how to get the Slurm commands when one is missing', async () => {
    await expect(runSlurmCommand('sbatch-not-installed-here', ['--version'])).rejects.toThrow(/`sbatch-not-installed-here` was not found on PATH.*--executor local/);
  });

  it('repeats a query that got no answer in time, and reports one that never answers', async () => {
    // Stalls on its first call only, like a controller busy for a moment.
    const program = join(tmp, 'squeue');
    writeFileSync(program, `#!/bin/sh\nif [ -e "$0.called" ]; then echo answered; else touch "$0.called"; exec sleep 5; fi\n`, { mode: 0o755 });
    const out = await runSlurmCommand(program, ['-h'], process.env, { timeoutMs: 1000, retries: 1 });
    expect(out.stdout.trim()).toBe('answered');
    rmSync(`${program}.called`);
    await expect(runSlurmCommand(program, ['-h'], process.env, { timeoutMs: 1000, retries: 0 })).rejects.toThrow(/got no answer within 1 s: is slurmctld up/);
    // A command that fails says what Slurm said, and is not repeated.
    const failing = join(tmp, 'scancel');
    writeFileSync(failing, `#!/bin/sh\necho x >> "$0.calls"; echo "scancel: error: Invalid job id specified" >&2; exit 1\n`, { mode: 0o755 });
    await expect(runSlurmCommand(failing, ['9'], process.env, { timeoutMs: 1000, retries: 3 })).rejects.toThrow(SlurmError);
    await expect(runSlurmCommand(failing, ['9'])).rejects.toThrow(/scancel 9` failed: scancel: error: Invalid job id specified/);
    expect(readFileSync(`${failing}.calls`, 'utf8')).toBe('x\nx\n');
  });
});

describe('judging a run from Slurm and its status.json', () => {
  const status = (state: 'running' | 'interrupted' | 'finished' | 'failed', reason?: string) => ({ state, agentStep: 10, envStep: 40, ...(reason ? { reason } : {}) });
  const task = (state: string, extra: Record<string, string> = {}) => ({ taskId: 0, name: '1_0', state, ...extra });

  it('maps Slurm states, telling a requeued run from one that never ran', () => {
    expect(judgeRun(task('PENDING', { reason: 'Priority' }), undefined)).toEqual({ state: 'pending', detail: 'waiting (Priority)' });
    expect(judgeRun(task('PENDING', { reason: 'BeginTime' }), status('interrupted')).state).toBe('requeued');
    expect(judgeRun(task('REQUEUED'), status('running')).state).toBe('requeued');
    expect(judgeRun(task('RUNNING'), status('running')).state).toBe('running');
    expect(judgeRun(task('COMPLETING'), status('finished')).state).toBe('completed');
    expect(judgeRun(task('COMPLETING'), status('interrupted')).state).toBe('running');
    expect(judgeRun(task('COMPLETED'), status('finished')).state).toBe('completed');
    expect(judgeRun(task('CANCELLED'), status('interrupted')).state).toBe('cancelled');
    expect(judgeRun(task('TIMEOUT'), status('interrupted')).state).toBe('timeout');
  });

  it('calls a task failed when Slurm says so, or when it ended 0 without finishing the run', () => {
    expect(judgeRun(task('FAILED', { reason: 'NonZeroExitCode', exitCode: '2:0' }), undefined)).toEqual({ state: 'failed', detail: 'FAILED, exit code 2:0, NonZeroExitCode' });
    expect(judgeRun(task('FAILED'), status('failed', 'non-finite loss'))).toEqual({ state: 'failed', detail: 'FAILED: non-finite loss' });
    expect(judgeRun(task('OUT_OF_MEMORY'), status('running')).state).toBe('failed');
    expect(judgeRun(task('COMPLETED'), status('interrupted'))).toEqual({ state: 'failed', detail: "the task ended with exit code 0 but the run's status.json says interrupted" });
  });

  it('falls back on status.json when Slurm no longer reports the task', () => {
    expect(judgeRun(undefined, status('finished')).state).toBe('completed');
    expect(judgeRun(undefined, status('failed', 'boom'))).toEqual({ state: 'failed', detail: 'boom' });
    expect(judgeRun(undefined, status('interrupted')).state).toBe('unknown');
  });
});

describe('statusLine', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'slurm-status-'));
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it("adds the run's progress and, for a failure, the end of the task's Slurm output file", () => {
    const dir = join(tmp, 'r');
    mkdirSync(join(tmp, 'logs'), { recursive: true });
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ config: { env: 'toy-reach', aux: 'none', seed: 1, steps: 800 } }));
    writeFileSync(join(dir, 'status.json'), JSON.stringify({ state: 'failed', agentStep: 50, envStep: 200, reason: 'env crashed' }));
    writeFileSync(join(tmp, 'logs', 'slurm-9_2.out'), `${Array.from({ length: 12 }, (_, i) => `line ${i}`).join('\n')}\n\n`);
    const entry = { taskId: 2, id: 'r', dir, env: 'toy-reach', aux: 'none' as const, seed: 1, overrides: {} };
    const job = { jobId: '9', submittedAt: '', script: '', taskIds: [2], array: '2', output: join(tmp, 'logs', 'slurm-%A_%a.out') };
    const line = statusLine({ entry, job, slurm: { taskId: 2, name: '9_2', jobId: '11', state: 'FAILED', node: 'n3', exitCode: '1:0' } });
    expect(line).toEqual({
      id: 'r', taskId: 2, state: 'failed', slurmState: 'FAILED', slurmJobId: '11', job: '9_2', node: 'n3', runState: 'failed', envStep: 200, steps: 800,
      detail: 'FAILED, exit code 1:0: env crashed', output: join(tmp, 'logs', 'slurm-9_2.out'),
      errorTail: Array.from({ length: 8 }, (_, i) => `line ${i + 4}`).join('\n'),
    });
    // A run left out of every job had finished before the submission.
    writeFileSync(join(dir, 'status.json'), JSON.stringify({ state: 'finished', agentStep: 200, envStep: 800 }));
    expect(statusLine({ entry, job: undefined, slurm: undefined })).toMatchObject({ state: 'completed', envStep: 800 });
  });
});

describe('the array task, outside Slurm', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'slurm-task-'));
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  function writeIndex(): string {
    const sweep = expandSweep(parseSweepFile({ name: 's', tasks: ['toy-reach'], seeds: [1, 2], aux: ['none'], overrides: { steps: 400 } }), { runsDir: tmp });
    mkdirSync(sweep.dir, { recursive: true });
    writeSlurmIndex({ executor: 'slurm', name: sweep.name, dir: sweep.dir, updatedAt: '', runs: runEntries(sweep), jobs: [] });
    return join(sweep.dir, 'index.json');
  }

  it('starts, resumes or skips the run of SLURM_ARRAY_TASK_ID, with conv workers from SLURM_CPUS_PER_TASK', async () => {
    const path = writeIndex();
    const calls: string[][] = [];
    const train = async (args: string[]): Promise<number> => {
      calls.push(args);
      return 0;
    };
    const quiet = (): void => undefined;
    const env = { SLURM_ARRAY_TASK_ID: '1', SLURM_CPUS_PER_TASK: '3', SLURM_JOB_ID: '21', SLURM_ARRAY_JOB_ID: '20' };
    const runDir = join(tmp, 's', 'toy-reach-none-s2');
    expect(await runArrayTask(path, { env, train, log: quiet })).toBe(0);
    expect(calls[0]).toEqual([...freshTrainArgs(entryToRun(readSlurmIndex(path)!.runs[1]!)), '--conv-workers', '2']);
    expect(calls[0]).toContain(runDir);

    // A checkpoint on disk (what a requeued task finds): resume.
    mkdirSync(join(runDir, 'checkpoints', 'ckpt-000000010'), { recursive: true });
    writeFileSync(join(runDir, 'checkpoints', 'ckpt-000000010', 'loop.msgpack'), '');
    writeFileSync(join(runDir, 'checkpoints', 'latest'), 'ckpt-000000010\n');
    await runArrayTask(path, { env: { ...env, SLURM_CPUS_PER_TASK: '1' }, train, log: quiet });
    expect(calls[1]).toEqual(['train', '--resume', runDir, '--progress', 'plain', '--conv-workers', '0']);

    writeFileSync(join(runDir, 'status.json'), JSON.stringify({ state: 'finished', agentStep: 100, envStep: 400 }));
    expect(await runArrayTask(path, { env, train, log: quiet })).toBe(0);
    expect(calls).toHaveLength(2);
  });

  it('`sweep task` trains its run through the CLI entry point the command was registered with, and exits with its code', async () => {
    const path = writeIndex();
    const calls: string[][] = [];
    const p = new Command('curl-rl').exitOverride();
    sweepCommand.register(p, async (argv) => {
      calls.push(argv);
      return 143;
    });
    vi.stubEnv('SLURM_ARRAY_TASK_ID', '0');
    vi.stubEnv('SLURM_CPUS_PER_TASK', '1');
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await p.parseAsync(['sweep', 'task', path], { from: 'user' });
      expect(calls).toEqual([[...freshTrainArgs(entryToRun(readSlurmIndex(path)!.runs[0]!)), '--conv-workers', '0']]);
      expect(process.exitCode).toBe(143);
    } finally {
      process.exitCode = undefined;
      vi.unstubAllEnvs();
      vi.restoreAllMocks();
    }
  });

  it('says what is wrong when run outside an array task or for a task the index lacks', async () => {
    const path = writeIndex();
    const train = async (): Promise<number> => {
      throw new Error('a task without its run must not train');
    };
    await expect(runArrayTask(path, { env: {}, train })).rejects.toThrow(/SLURM_ARRAY_TASK_ID is not set/);
    await expect(runArrayTask(path, { env: { SLURM_ARRAY_TASK_ID: '5' }, log: () => undefined, train })).rejects.toThrow(/lists no run for array task 5 \(it has tasks 0-1\)/);
    await expect(runArrayTask(join(tmp, 'nope.json'), { env: { SLURM_ARRAY_TASK_ID: '0' }, train })).rejects.toThrow(/is not the index of a sweep submitted to Slurm/);
  });
});

describe('curl-rl sweep --executor slurm without a cluster', () => {
  let tmp: string;
  let log: ReturnType<typeof vi.spyOn>;
  let written: string[];
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'slurm-cli-'));
    log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    written = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(tmp, { recursive: true, force: true });
  });

  function program(): Command {
    const p = new Command('curl-rl').exitOverride();
    sweepCommand.register(p, async (argv) => {
      throw new Error(`unexpected nested command: curl-rl ${argv.join(' ')}`);
    });
    for (const sub of p.commands) sub.exitOverride();
    return p;
  }

  it('--dry-run prints the script for the unfinished runs and submits nothing', async () => {
    const file = join(tmp, 'sw.json');
    writeFileSync(file, JSON.stringify({ name: 'dry', tasks: ['toy-reach'], seeds: [1, 2], aux: ['curl', 'none'], runsDir: 'r' }));
    const finished = join(tmp, 'r', 'dry', 'toy-reach-none-s1');
    mkdirSync(finished, { recursive: true });
    writeFileSync(join(finished, 'status.json'), JSON.stringify({ state: 'finished', agentStep: 1, envStep: 8 }));
    await program().parseAsync(['sweep', file, '--executor', 'slurm', '--dry-run', '--max-concurrent', '2', '--sbatch-arg=--qos=low'], { from: 'user' });
    const script = written.join('');
    expect(script).toContain('#SBATCH --array=0,2-3%2\n');
    expect(script).toContain('#SBATCH --qos=low\n');
    expect(script).toContain(`sweep task '${join(tmp, 'r', 'dry', 'index.json')}' --requeue-on-signal`);
    expect(existsSync(join(tmp, 'r', 'dry', 'index.json'))).toBe(false);
  });

  it('refuses flags of the other executor', async () => {
    const file = join(tmp, 'sw.json');
    writeFileSync(file, JSON.stringify({ name: 'x', tasks: ['toy-reach'], seeds: [1] }));
    await expect(program().parseAsync(['sweep', file, '--partition', 'p', '--time', '1:00:00'], { from: 'user' })).rejects.toThrow(
      /--partition, --time apply only with --executor slurm/,
    );
    await expect(program().parseAsync(['sweep', file, '--executor', 'slurm', '--parallel', '2'], { from: 'user' })).rejects.toThrow(/use --max-concurrent/);
    await expect(program().parseAsync(['sweep', file, '--executor', 'slurm', '--cpus-per-task', '0'], { from: 'user' })).rejects.toThrow(/--cpus-per-task = 0 is out of range; allowed: an integer from 1 to/);
  });
});

/*
 * `curl-rl sweep --executor slurm` against a real Slurm (Debian's slurm-wlm
 * and munge), started here as a single-node cluster. CI installs the
 * packages (.ci/run) and must run these; elsewhere they are skipped, loudly,
 * only when Slurm is not installed or we are not root.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEntry } from '../../experiments/sweep/spawner.js';
import { readSlurmIndex, type SlurmIndex } from '../../experiments/sweep/slurm/index-file.js';
import { sweepStatus, type RunStatusLine } from '../../experiments/sweep/slurm/status.js';
import type { MetricsRecord } from '../../src/run/metrics.js';
import { comparable } from '../loop/helpers.js';
import { missingSlurmPrograms, startSlurmCluster, type SlurmCluster } from './slurm-cluster.js';

const missing = missingSlurmPrograms();
const isRoot = process.getuid?.() === 0;
const inCi = Boolean(process.env.CI);
const skipReason = missing.length > 0 ? `${missing.join(', ')} not installed (apt-get install slurm-wlm munge)` : !isRoot ? 'not root (slurmd must run jobs as root here)' : undefined;
if (skipReason && !inCi) {
  console.warn(`\n*** SKIPPING the Slurm integration tests: ${skipReason}. CI installs Slurm in .ci/run and runs them. ***\n`);
}
const describeSlurm = skipReason && !inCi ? describe.skip : describe;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [cliEntry, ...args], { env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

function slurmCommand(program: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(program, args, { env }, (error, _stdout, stderr) => (error ? reject(new Error(`${program} ${args.join(' ')}: ${stderr || error.message}`)) : resolvePromise()));
  });
}

/** The pid of a running job's batch shell (step "batch", local task 0) on this node. */
function batchShellPid(jobId: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    execFile('scontrol', ['listpids', jobId], { env }, (error, stdout, stderr) => {
      const row = stdout.split('\n').map((l) => l.trim().split(/\s+/)).find((cells) => cells[2] === 'batch' && cells[3] === '0');
      if (error || !row) reject(new Error(`scontrol listpids ${jobId}: ${stderr || stdout || error?.message}`));
      else resolvePromise(Number(row[0]));
    });
  });
}

function metrics(runDir: string): MetricsRecord[] {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as MetricsRecord);
}

const steps = 1200;
/**
 * toy-reach at 16x16 with a tiny network on the cpu backend: a few seconds per run, a checkpoint every 25
 * agent steps. One training process at a time here and on Slurm (--parallel 1, --max-concurrent 1): vitest's
 * other fork has the second core.
 */
const tinyOverrides = {
  backend: 'cpu', imageSize: 16, cropSize: 12, frameStack: 2, actionRepeat: 4, steps, initSteps: 40,
  batchSize: 8, microBatch: 8, replayCapacity: 600, hiddenDim: 16, latentDim: 8, numConvLayers: 2, numFilters: 4,
  evalEvery: 400, evalEpisodes: 1, logEvery: 100, checkpointEvery: 100, keepCheckpoints: 2,
};

describeSlurm('sweep --executor slurm on a real single-node Slurm cluster', () => {
  let cluster: SlurmCluster;
  let tmp: string;

  beforeAll(async () => {
    if (skipReason) throw new Error(`The Slurm integration tests must run in CI, but ${skipReason}. .ci/run installs slurm-wlm and munge with apt-get.`);
    tmp = mkdtempSync(join(tmpdir(), 'slurm-sweep-'));
    cluster = await startSlurmCluster();
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 120_000);

  const index = (runsDir: string, name: string): SlurmIndex => {
    const path = join(runsDir, name, 'index.json');
    const read = readSlurmIndex(path);
    if (!read) throw new Error(`no Slurm index at ${path}`);
    return read;
  };

  /** Polls `sweep status` (the same function the CLI prints) until `done` says so, handing each round to `act`. */
  async function follow(
    runsDir: string,
    name: string,
    done: (lines: RunStatusLine[]) => boolean,
    act: (lines: RunStatusLine[]) => Promise<void> = async () => undefined,
    timeoutMs = 150_000,
  ): Promise<{ lines: RunStatusLine[]; seen: Map<string, Set<string>>; nodes: Set<string> }> {
    const seen = new Map<string, Set<string>>();
    const nodes = new Set<string>();
    const deadline = Date.now() + timeoutMs;
    let lines: RunStatusLine[] = [];
    while (Date.now() < deadline) {
      lines = await sweepStatus(index(runsDir, name), cluster.env);
      for (const l of lines) {
        if (!seen.has(l.id)) seen.set(l.id, new Set());
        seen.get(l.id)!.add(l.state);
        if (l.state === 'running' && l.node) nodes.add(l.node);
      }
      if (done(lines)) return { lines, seen, nodes };
      await act(lines);
      await sleep(200);
    }
    throw new Error(`sweep ${name} did not get there in ${timeoutMs} ms; last status:\n${JSON.stringify(lines, null, 2)}`);
  }

  it(
    'runs a sweep as a job array whose runs, one requeued and one stopped by the time-limit warning, end with the numbers of the same sweep run locally',
    async () => {
      const file = join(tmp, 'tiny.json');
      // convWorkers is pinned so both executors do the same float operations (the local runner gives each
      // run a share of this machine's cores, Slurm its task's CPUs; the last test checks that mapping).
      const overrides = { ...tinyOverrides, convWorkers: 0 };
      writeFileSync(file, JSON.stringify({ name: 'tiny', tasks: ['toy-reach'], seeds: [1, 2], aux: ['curl', 'none'], overrides }));

      // The reference: the same sweep run here, without Slurm.
      const localRuns = join(tmp, 'local');
      const local = await cli(['sweep', file, '--runs-dir', localRuns, '--parallel', '1'], process.env);
      expect(local.code, local.stderr + local.stdout).toBe(0);

      const slurmRuns = join(tmp, 'slurm');
      const submitted = await cli(
        ['sweep', file, '--executor', 'slurm', '--runs-dir', slurmRuns, '--max-concurrent', '1', '--cpus-per-task', '1', '--time', '00:30:00', '--signal-seconds', '120'],
        cluster.env,
      );
      expect(submitted.code, submitted.stderr).toBe(0);
      const jobId = /submitted Slurm job (\d+)/.exec(submitted.stdout)?.[1];
      expect(jobId, submitted.stdout).toBeDefined();
      const submittedIndex = index(slurmRuns, 'tiny');
      expect(submittedIndex.jobs.map((j) => [j.jobId, j.array])).toEqual([[jobId, '0-3%1']]);
      expect(submittedIndex.runs.map((r) => [r.taskId, r.id])).toEqual([
        [0, 'toy-reach-curl-s1'], [1, 'toy-reach-none-s1'], [2, 'toy-reach-curl-s2'], [3, 'toy-reach-none-s2'],
      ]);
      const script = readFileSync(submittedIndex.jobs[0]!.script, 'utf8');
      expect(script).toContain('#SBATCH --signal=B:TERM@120');

      const [requeueTarget, warningTarget] = ['toy-reach-curl-s1', 'toy-reach-none-s1'];
      const interrupted = new Set<string>();
      const released = new Set<string>();
      const midRun = (l: RunStatusLine): boolean => l.state === 'running' && l.envStep !== undefined && l.envStep >= 100 && l.envStep <= steps / 2;
      const { lines, seen, nodes } = await follow(
        slurmRuns,
        'tiny',
        // COMPLETING is Slurm still running the task's epilogue: the run is finished, Slurm's record not yet final
        (ls) => ls.every((l) => l.state === 'completed' && l.slurmState !== 'COMPLETING') || ls.some((l) => l.state === 'failed'),
        async (ls) => {
          for (const l of ls) {
            if (l.id === requeueTarget && !interrupted.has(l.id) && midRun(l)) {
              // What an admin, preemption with PreemptMode=REQUEUE, or a node failure does to a running task.
              await slurmCommand('scontrol', ['requeue', l.slurmJobId!], cluster.env);
              interrupted.add(l.id);
            }
            if (l.id === warningTarget && !interrupted.has(l.id) && midRun(l)) {
              // What --signal=B:TERM@120 does 120 s before the time limit: SIGTERM to the batch shell, the job left
              // RUNNING. Waiting for the real timer takes minutes, and Slurm 22.05 refuses `scancel --batch --signal`
              // for a task of a throttled array whose other tasks wait ("Job can not be altered now"), so the test
              // signals the batch shell itself, which `scontrol listpids` names.
              process.kill(await batchShellPid(l.slurmJobId!, cluster.env), 'SIGTERM');
              interrupted.add(l.id);
            }
            if (interrupted.has(l.id) && !released.has(l.id) && l.state === 'requeued' && l.slurmState === 'PENDING') {
              // Slurm holds a requeued task back for about two minutes before it is eligible again; let it go now.
              await slurmCommand('scontrol', ['update', `JobId=${l.slurmJobId}`, 'StartTime=now'], cluster.env);
              released.add(l.id);
            }
          }
        },
      );
      expect(lines.map((l) => [l.id, l.state, l.slurmState, l.envStep]), JSON.stringify(lines, null, 2)).toEqual(
        submittedIndex.runs.map((r) => [r.id, 'completed', 'COMPLETED', steps]),
      );
      expect([...interrupted].sort()).toEqual([requeueTarget, warningTarget].sort());
      expect([...released].sort()).toEqual([requeueTarget, warningTarget].sort());
      // Along the way: the throttle kept tasks 1-3 pending; every run ran on the node; both interrupted runs were requeued.
      for (const id of ['toy-reach-none-s1', 'toy-reach-curl-s2', 'toy-reach-none-s2']) expect([...seen.get(id)!]).toContain('pending');
      for (const [id, states] of seen) expect([...states], id).toContain('running');
      for (const id of [requeueTarget, warningTarget]) expect([...seen.get(id)!], id).toContain('requeued');
      expect([...nodes]).toEqual(['localhost']);

      for (const run of submittedIndex.runs) {
        const records = metrics(run.dir);
        const resumes = records.filter((r) => r.type === 'resume');
        if (run.id === requeueTarget || run.id === warningTarget) {
          expect(resumes, run.id).toHaveLength(1);
          expect(resumes[0]!.envStep).toBeGreaterThan(0);
          expect(resumes[0]!.envStep).toBeLessThan(steps);
        } else {
          expect(resumes, run.id).toHaveLength(0);
        }
        // No step logged twice: each kind of record moves strictly forward.
        for (const type of ['train', 'episode', 'eval'] as const) {
          const at = records.filter((r) => r.type === type).map((r) => r.agentStep);
          expect(at.length, `${run.id} ${type}`).toBeGreaterThan(0);
          for (let i = 1; i < at.length; i += 1) expect(at[i]!, `${run.id} ${type} #${i}`).toBeGreaterThan(at[i - 1]!);
        }
        // Same seeds, same numbers: every loss, return and evaluation equals the local run's.
        expect(comparable(records), run.id).toEqual(comparable(metrics(join(localRuns, 'tiny', run.id))));
      }

      const output = (id: string): string => readFileSync(lines.find((l) => l.id === id)!.output!, 'utf8');
      expect(output(warningTarget)).toMatch(/requeued array task \d+_1: the run continues from its checkpoint/);
      expect(output(warningTarget)).toMatch(/attempt 2,.*\n.*resuming from its last checkpoint/);
      expect(output(requeueTarget)).toMatch(/Slurm is ending this task \(job state COMPLETING\)/);
      expect(output(requeueTarget)).not.toMatch(/requeued array task/);

      const statusJson = await cli(['sweep', 'status', file, '--runs-dir', slurmRuns, '--json'], cluster.env);
      expect(statusJson.code, statusJson.stderr).toBe(0);
      const parsed = JSON.parse(statusJson.stdout) as { jobId: string; runs: RunStatusLine[] };
      expect(parsed.jobId).toBe(jobId);
      expect(parsed.runs.map((r) => [r.id, r.state, r.node])).toEqual(submittedIndex.runs.map((r) => [r.id, 'completed', 'localhost']));
      const statusText = await cli(['sweep', 'status', file, '--runs-dir', slurmRuns], cluster.env);
      expect(statusText.stdout).toContain(`sweep tiny: Slurm job ${jobId}, 4 runs: 4 completed`);
      expect(statusText.stdout).toMatch(new RegExp(`toy-reach-none-s2 +completed +${jobId}_3 +localhost +${steps}/${steps}`));

      // Nothing left to do: a second submission submits nothing.
      const again = await cli(['sweep', file, '--executor', 'slurm', '--runs-dir', slurmRuns], cluster.env);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('all 4 runs have finished; nothing to submit');
    },
    300_000,
  );

  it('reports a task that fails (bad config) as failed with the error from its Slurm output file', async () => {
    const file = join(tmp, 'bad.json');
    // Valid as a config, so the submission accepts it; too large for the node, which only the task's train can tell.
    writeFileSync(file, JSON.stringify({ name: 'bad', tasks: ['toy-reach'], seeds: [1], aux: ['none'], overrides: { ...tinyOverrides, replayCapacity: 10_000_000_000 } }));
    const runsDir = join(tmp, 'bad-runs');
    const submitted = await cli(['sweep', file, '--executor', 'slurm', '--runs-dir', runsDir], cluster.env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const { lines } = await follow(runsDir, 'bad', (ls) => ls.every((l) => l.state !== 'pending' && l.state !== 'running'), undefined, 60_000);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ id: 'toy-reach-none-s1', state: 'failed', slurmState: 'FAILED', node: 'localhost' });
    expect(lines[0]!.errorTail).toContain('does not fit this machine');

    const text = await cli(['sweep', 'status', file, '--runs-dir', runsDir], cluster.env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/toy-reach-none-s1 +failed +\d+_0 +localhost/);
    expect(text.stdout).toContain(`toy-reach-none-s1 (failed), end of ${lines[0]!.output}:`);
    expect(text.stdout).toContain('does not fit this machine');
  }, 120_000);

  it('gives a run conv workers from its CPUs, refuses a second submission while the first job runs, and `sweep cancel` stops the array with a checkpoint', async () => {
    const file = join(tmp, 'long.json');
    writeFileSync(file, JSON.stringify({ name: 'long', tasks: ['toy-reach'], seeds: [7], aux: ['none'], overrides: { ...tinyOverrides, steps: 1_000_000 } }));
    const runsDir = join(tmp, 'long-runs');
    const cpus = Math.min(2, cluster.cpus);
    const submitted = await cli(['sweep', file, '--executor', 'slurm', '--runs-dir', runsDir, '--cpus-per-task', String(cpus)], cluster.env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const { lines: started } = await follow(runsDir, 'long', (ls) => ls[0]!.state === 'running' && (ls[0]!.envStep ?? 0) >= 100, undefined, 60_000);
    const output = readFileSync(started[0]!.output!, 'utf8');
    expect(output).toContain(`, ${cpus} CPUs,`);
    expect(output).toMatch(new RegExp(`starting from scratch: curl-rl train .* --conv-workers ${cpus - 1}\\n`));

    const twice = await cli(['sweep', file, '--executor', 'slurm', '--runs-dir', runsDir], cluster.env);
    // A busy sweep is a usage error, as a busy run is: exit 2, nothing submitted.
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/Sweep 'long' still has job \d+ \(1 task\(s\)\) pending or running in Slurm/);
    expect(index(runsDir, 'long').jobs).toHaveLength(1);

    const cancelled = await cli(['sweep', 'cancel', file, '--runs-dir', runsDir], cluster.env);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toMatch(/sweep long: cancelled Slurm job \d+/);
    const { lines } = await follow(runsDir, 'long', (ls) => ls[0]!.state === 'cancelled', undefined, 60_000);
    expect(lines[0]!.slurmState).toBe('CANCELLED');
    // Slurm's SIGTERM reached the run, which checkpointed and was not requeued: submitting again would resume it.
    const run = index(runsDir, 'long').runs[0]!;
    expect(JSON.parse(readFileSync(join(run.dir, 'status.json'), 'utf8'))).toMatchObject({ state: 'interrupted', reason: 'stopped by SIGTERM' });
    expect(existsSync(join(run.dir, 'checkpoints', 'latest'))).toBe(true);
    expect(readFileSync(lines[0]!.output!, 'utf8')).toMatch(/Slurm is ending this task \(job state (COMPLETING|CANCELLED)\); its checkpoint is kept/);
  }, 120_000);
});

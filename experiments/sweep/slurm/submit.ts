import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../../../src/core/errors.js';
import { lockSweep, planRun } from '../runner.js';
import { cliEntry } from '../spawner.js';
import type { Sweep } from '../spec.js';
import { activeStates, cancelJob, queueTasks, submitScript } from './commands.js';
import { indexFile, readSlurmIndex, runEntries, writeSlurmIndex, type SlurmIndex } from './index-file.js';
import { arraySpec, sbatchScript, type SlurmOptions } from './script.js';

/** An earlier job of the same sweep still has tasks queued or running. Exit code 2, as for a busy run or sweep lock: nothing was started. */
export class SweepBusyError extends ConfigError {}

export interface SubmitOptions {
  /** Print-only: build the script, submit nothing, write nothing. */
  dryRun?: boolean;
  sweepFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Node and CLI entry point on the nodes (default: this Node and this checkout). */
  node?: string;
  cli?: string;
  /** Run ids to submit (`sweep --only`); the run table still lists every run, so task ids stay the sweep's. Default: every run. */
  only?: ReadonlySet<string>;
}

export interface SubmitResult {
  /** Runs still to do, as array task ids (index into the sweep's runs). */
  taskIds: number[];
  script?: string;
  scriptPath?: string;
  jobId?: string;
}

/** Jobs of this sweep with tasks Slurm has not finished, and how many. */
export async function activeJobs(index: SlurmIndex, env?: NodeJS.ProcessEnv): Promise<Array<{ jobId: string; active: number }>> {
  const busy: Array<{ jobId: string; active: number }> = [];
  for (const job of index.jobs) {
    const active = (await queueTasks(job.jobId, env)).filter((t) => activeStates.has(t.state)).length;
    if (active > 0) busy.push({ jobId: job.jobId, active });
  }
  return busy;
}

/**
 * Submits the sweep's unfinished runs as one job array. The run table is
 * on disk before sbatch runs, since a task may start the moment the job is
 * accepted; the job id is added once sbatch has printed it.
 */
export async function submitSweep(sweep: Sweep, options: SlurmOptions, submit: SubmitOptions = {}): Promise<SubmitResult> {
  const taskIds = sweep.runs.flatMap((run, i) => (planRun(run) === 'skip' || (submit.only !== undefined && !submit.only.has(run.id)) ? [] : [i]));
  if (taskIds.length === 0) return { taskIds };
  const outputPattern = join(sweep.dir, 'logs', 'slurm-%A_%a.out');
  const script = sbatchScript({
    sweepName: sweep.name,
    indexFile: indexFile(sweep.dir),
    taskIds,
    outputPattern,
    // The checkout: relative preset names resolve there, and each run records its git commit.
    workDir: resolve(cliEntry, '..', '..', '..'),
    node: submit.node ?? process.execPath,
    cli: submit.cli ?? cliEntry,
    options,
  });
  if (submit.dryRun) return { taskIds, script };

  const previous = readSlurmIndex(indexFile(sweep.dir));
  if (previous) {
    const busy = await activeJobs(previous, submit.env);
    if (busy.length > 0) {
      const list = busy.map((b) => `job ${b.jobId} (${b.active} task(s))`).join(', ');
      throw new SweepBusyError(
        `Sweep '${sweep.name}' still has ${list} pending or running in Slurm: two jobs would run the same runs. ` +
          'Wait for it (`curl-rl sweep status FILE`), or cancel it (`curl-rl sweep cancel FILE`) and submit again.',
      );
    }
  }
  // A local sweep process running the same runs holds the lock; taking and dropping it checks that.
  lockSweep(sweep)();

  mkdirSync(join(sweep.dir, 'logs'), { recursive: true });
  mkdirSync(join(sweep.dir, 'slurm'), { recursive: true });
  const index: SlurmIndex = {
    executor: 'slurm',
    name: sweep.name,
    dir: sweep.dir,
    updatedAt: new Date().toISOString(),
    runs: runEntries(sweep),
    jobs: previous?.jobs ?? [],
  };
  if (submit.sweepFile !== undefined) index.sweepFile = submit.sweepFile;
  writeSlurmIndex(index);
  const scriptPath = join(sweep.dir, 'slurm', `submit-${new Date().toISOString().replace(/[:.]/g, '-')}.sbatch`);
  writeFileSync(scriptPath, script, { mode: 0o755 });
  const jobId = await submitScript(scriptPath, submit.env);
  index.jobs = [
    ...index.jobs,
    { jobId, submittedAt: new Date().toISOString(), script: scriptPath, taskIds, array: arraySpec(taskIds, options.maxConcurrent), output: outputPattern },
  ];
  writeSlurmIndex(index);
  return { taskIds, script, scriptPath, jobId };
}

/** Cancels every job of the sweep that Slurm still runs or queues; returns their ids. */
export async function cancelSweep(index: SlurmIndex, env?: NodeJS.ProcessEnv): Promise<string[]> {
  const busy = await activeJobs(index, env);
  for (const { jobId } of busy) await cancelJob(jobId, env);
  return busy.map((b) => b.jobId);
}

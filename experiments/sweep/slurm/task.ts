import { hostname } from 'node:os';
import { readStatus } from '../../report/run-files.js';
import { CurlRlError } from '../../../src/core/errors.js';
import { moveAsideStale, planRun } from '../runner.js';
import { freshTrainArgs, overridesProblem, resumeTrainArgs, runDirProblem, taskEnvProblem } from '../spec.js';
import { jobState, requeueJob } from './commands.js';
import { entryToRun, readSlurmIndex } from './index-file.js';
import { cpusPerTaskFromEnv, threadArgsForCpus } from './threads.js';

/**
 * One array task of a sweep job: finds its run by SLURM_ARRAY_TASK_ID in
 * the sweep index and starts it, resumes it from its checkpoint, or skips
 * it when it has finished. Everything it decides comes from what is on
 * disk, so a task that Slurm requeues (by hand, for preemption, after a
 * node failure) simply continues the run.
 */

/** The task was started outside Slurm, or its index does not list it. */
export class SlurmTaskError extends CurlRlError {
  override readonly exitCode = 2;
}

export interface ArrayTaskOptions {
  /** Requeue this task when the run stopped on a SIGTERM that did not come with Slurm ending the job: the time-limit warning. */
  requeueOnSignal?: boolean;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  /**
   * Runs `curl-rl train` with these arguments (they start with 'train') and
   * returns its exit code. The CLI passes its own entry point, so the run
   * trains in this process and Slurm's signals reach the loop.
   */
  train: (args: string[]) => Promise<number>;
}

export async function runArrayTask(indexPath: string, options: ArrayTaskOptions): Promise<number> {
  const env = options.env ?? process.env;
  const say = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const rawTask = env.SLURM_ARRAY_TASK_ID;
  if (rawTask === undefined || !/^\d+$/.test(rawTask)) {
    throw new SlurmTaskError(
      'sweep task runs inside a Slurm array task (SLURM_ARRAY_TASK_ID is not set). Submit the sweep with `curl-rl sweep FILE --executor slurm`; to run it here use --executor local.',
    );
  }
  const taskId = Number(rawTask);
  const index = readSlurmIndex(indexPath);
  if (!index) throw new SlurmTaskError(`${indexPath} is not the index of a sweep submitted to Slurm (it is missing, or a local sweep has rewritten it since).`);
  const entry = index.runs.find((r) => r.taskId === taskId);
  if (!entry) throw new SlurmTaskError(`${indexPath} lists no run for array task ${taskId} (it has tasks 0-${index.runs.length - 1}).`);
  const run = entryToRun(entry);
  // The index is a file on a shared disk: a run it names is trusted only if the sweep itself could have planned it,
  // since starting a run afresh moves its folder aside.
  const problem = taskEnvProblem(run.env) ?? runDirProblem(index.dir, run) ?? overridesProblem(run.overrides);
  if (problem !== null) {
    throw new SlurmTaskError(`${indexPath} lists for array task ${taskId} the run ${JSON.stringify(run.id)} (env ${JSON.stringify(run.env)}), which this task refuses: ${problem}. Nothing was moved or started.`);
  }

  const jobId = env.SLURM_JOB_ID;
  const arrayJob = env.SLURM_ARRAY_JOB_ID ?? '?';
  const attempt = Number(env.SLURM_RESTART_COUNT ?? 0) + 1;
  const cpus = cpusPerTaskFromEnv(env);
  say(`curl-rl sweep task ${arrayJob}_${taskId}: run ${run.id}, attempt ${attempt}, on ${hostname()}, ${cpus ?? 'default'} CPUs, ${new Date().toISOString()}`);

  const action = planRun(run);
  if (action === 'skip') {
    say(`run ${run.id} has finished already (${run.dir}/status.json); nothing to do.`);
    return 0;
  }
  if (action === 'fresh') moveAsideStale(index.dir, run);
  const args = [...(action === 'resume' ? resumeTrainArgs(run) : freshTrainArgs(run)), ...threadArgsForCpus(cpus, run)];
  say(`${action === 'resume' ? 'resuming from its last checkpoint' : 'starting from scratch'}: curl-rl ${args.join(' ')}`);
  const exitCode = await options.train(args);

  // 143: the run stopped on SIGTERM and wrote a checkpoint. Slurm sends it when it ends the job (scancel,
  // requeue, preemption: the job has left RUNNING by then) and as the time-limit warning (--signal, the job
  // still RUNNING). Only the warning needs us: come back later and go on from the checkpoint.
  if (exitCode === 143 && options.requeueOnSignal && jobId !== undefined && readStatus(run.dir)?.state === 'interrupted') {
    const state = await jobState(jobId, env);
    if (state === 'RUNNING') {
      try {
        await requeueJob(jobId, env);
        say(`requeued array task ${arrayJob}_${taskId}: the run continues from its checkpoint when Slurm starts the task again.`);
      } catch (error) {
        say(`curl-rl: could not requeue array task ${arrayJob}_${taskId} (${(error as Error).message}); resubmit the sweep to continue the run.`);
      }
    } else {
      say(`Slurm is ending this task (job state ${state ?? 'unknown'}); its checkpoint is kept.`);
    }
  }
  return exitCode;
}

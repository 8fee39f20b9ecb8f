/*
 * The Slurm client commands the sweep uses (sbatch, squeue, sacct, scancel,
 * scontrol), run as programs with their output parsed here. They find the
 * cluster the usual way (SLURM_CONF, /etc/slurm/slurm.conf, DNS SRV), so a
 * sweep submits wherever the user's own `sbatch` would.
 */
import { execFile } from 'node:child_process';
import { CurlRlError } from '../../../src/core/errors.js';

/** A Slurm command is missing or refused what we asked. */
export class SlurmError extends CurlRlError {}

export interface CommandOutput {
  stdout: string;
  stderr: string;
}

/** The command got no answer in time (killed by our timeout). */
class SlurmTimeoutError extends SlurmError {}

export interface CommandTiming {
  timeoutMs: number;
  /** Attempts after one that got no answer in time: only for queries, which are safe to repeat. */
  retries: number;
}

const commandTiming: CommandTiming = { timeoutMs: 60_000, retries: 0 };
/** A busy controller (we saw one stall a minute on a loaded 2-core machine) gets a second chance at a read. */
const queryTiming: CommandTiming = { timeoutMs: 30_000, retries: 1 };

export async function runSlurmCommand(
  program: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  timing: CommandTiming = commandTiming,
): Promise<CommandOutput> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await runOnce(program, args, env, timing.timeoutMs);
    } catch (error) {
      if (!(error instanceof SlurmTimeoutError) || attempt >= timing.retries) throw error;
    }
  }
}

function runOnce(program: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CommandOutput> {
  return new Promise((resolvePromise, reject) => {
    execFile(program, [...args], { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) {
        resolvePromise({ stdout, stderr });
        return;
      }
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        reject(
          new SlurmError(
            `\`${program}\` was not found on PATH. The Slurm executor needs the Slurm client commands: run it on a login node of the cluster ` +
              '(or install them: `apt-get install slurm-client` on Debian), or use --executor local.',
          ),
        );
        return;
      }
      if ((error as { killed?: boolean }).killed) {
        reject(
          new SlurmTimeoutError(
            `\`${program} ${args.join(' ')}\` got no answer within ${timeoutMs / 1000} s: is slurmctld up and reachable ` +
              `(\`scontrol ping\`; configuration ${env.SLURM_CONF ?? '/etc/slurm/slurm.conf'})?`,
          ),
        );
        return;
      }
      const said = stderr.trim() || stdout.trim() || error.message;
      reject(new SlurmError(`\`${program} ${args.join(' ')}\` failed: ${said}`));
    });
  });
}

/** sbatch --parsable prints "<jobid>" or "<jobid>;<cluster>". */
export function parseSubmitOutput(stdout: string): string {
  const first = stdout.trim().split('\n').pop()?.split(';')[0]?.trim() ?? '';
  if (!/^\d+$/.test(first)) throw new SlurmError(`sbatch did not print a job id (got ${JSON.stringify(stdout.trim())})`);
  return first;
}

export async function submitScript(scriptPath: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await runSlurmCommand('sbatch', ['--parsable', scriptPath], env);
  return parseSubmitOutput(stdout);
}

/** One array task as Slurm's controller or accounting sees it. */
export interface SlurmTask {
  taskId: number;
  /** `<array job>_<task>`, as squeue and sacct print it. */
  name: string;
  /** The task's own job id (its SLURM_JOB_ID), when squeue reports it. */
  jobId?: string;
  /** Slurm's state name: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, REQUEUED, ... */
  state: string;
  node?: string;
  /** squeue's reason (pending: why it waits; ended: why it ended). */
  reason?: string;
  /** sacct's ExitCode, "<code>:<signal>". */
  exitCode?: string;
}

const queueFormat = '%K|%i|%A|%T|%N|%r';

/** Lines of `squeue -h -r -o '%K|%i|%A|%T|%N|%r'`. */
export function parseQueue(text: string): SlurmTask[] {
  const tasks: SlurmTask[] = [];
  for (const line of text.split('\n')) {
    const [task, name, jobId, state, node, ...reason] = line.trim().split('|');
    if (task === undefined || !/^\d+$/.test(task) || !name || !state) continue;
    const entry: SlurmTask = { taskId: Number(task), name, state };
    if (jobId && /^\d+$/.test(jobId)) entry.jobId = jobId;
    if (node) entry.node = node;
    const why = reason.join('|');
    if (why && why !== 'None') entry.reason = why;
    tasks.push(entry);
  }
  return tasks;
}

/**
 * Every task of the array the controller still holds, finished ones
 * included (`-t all`), until MinJobAge lets it forget them. An array the
 * controller no longer knows gives an empty list.
 */
export async function queueTasks(arrayJobId: string, env?: NodeJS.ProcessEnv): Promise<SlurmTask[]> {
  try {
    const { stdout } = await runSlurmCommand('squeue', ['-h', '-r', '-t', 'all', '-j', arrayJobId, '-o', queueFormat], env, queryTiming);
    return parseQueue(stdout);
  } catch (error) {
    if (error instanceof SlurmError && /Invalid job id/i.test(error.message)) return [];
    throw error;
  }
}

/** Lines of `sacct -n -P -X -o JobID,State,ExitCode,NodeList`: the newest record of each array task. */
export function parseAccounting(text: string): SlurmTask[] {
  const byTask = new Map<number, SlurmTask>();
  for (const line of text.split('\n')) {
    const [jobId, state, exitCode, node] = line.trim().split('|');
    const match = /^(\d+)_(\d+)$/.exec(jobId ?? '');
    if (!match || !state) continue;
    const entry: SlurmTask = { taskId: Number(match[2]), name: jobId!, state: state.split(' ')[0]! };
    if (exitCode) entry.exitCode = exitCode;
    if (node && node !== 'None assigned') entry.node = node;
    // sacct lists older attempts (REQUEUED) before the current one.
    byTask.set(entry.taskId, entry);
  }
  return [...byTask.values()];
}

/**
 * The accounting view, or undefined when the cluster keeps no accounting
 * (sacct then fails with "accounting storage is disabled"): the controller's
 * view alone must do.
 */
export async function accountingTasks(arrayJobId: string, env?: NodeJS.ProcessEnv): Promise<SlurmTask[] | undefined> {
  try {
    const { stdout } = await runSlurmCommand('sacct', ['-n', '-P', '-X', '-j', arrayJobId, '-o', 'JobID,State,ExitCode,NodeList'], env, queryTiming);
    return parseAccounting(stdout);
  } catch {
    return undefined;
  }
}

export async function cancelJob(jobId: string, env?: NodeJS.ProcessEnv): Promise<void> {
  await runSlurmCommand('scancel', [jobId], env);
}

export async function requeueJob(jobId: string, env?: NodeJS.ProcessEnv): Promise<void> {
  await runSlurmCommand('scontrol', ['requeue', jobId], env);
}

/** The controller's state of one job (e.g. an array task's own SLURM_JOB_ID), or undefined if it does not answer. */
export async function jobState(jobId: string, env?: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    const { stdout } = await runSlurmCommand('squeue', ['-h', '-t', 'all', '-j', jobId, '-o', '%T'], env, queryTiming);
    return stdout.trim().split('\n')[0]?.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Slurm states in which a task still holds or waits for resources. */
export const activeStates = new Set([
  'PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'REQUEUE_FED', 'REQUEUE_HOLD', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'RESV_DEL_HOLD',
]);

/*
 * `sweep status` for a Slurm sweep: Slurm's view of each array task (the
 * controller's queue, plus accounting when the cluster keeps it) merged
 * with the run's own status.json, one line per run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { peekRunConfig, readStatus, type RunStatus } from '../../report/run-files.js';
import { accountingTasks, queueTasks, type SlurmTask } from './commands.js';
import { jobForTask, outputFile, type SlurmIndex, type SlurmJob, type SlurmRunEntry } from './index-file.js';

export const sweepRunStates = ['pending', 'running', 'requeued', 'completed', 'failed', 'timeout', 'cancelled', 'not submitted', 'unknown'] as const;
export type SweepRunState = (typeof sweepRunStates)[number];

export interface RunStatusLine {
  id: string;
  taskId: number;
  state: SweepRunState;
  /** Slurm's own state name, when Slurm reports the task. */
  slurmState?: string;
  /** `<array job>_<task>`. */
  job?: string;
  /** The task's own job id (what `scontrol requeue`, `scancel` take without array arithmetic), while the controller reports it. */
  slurmJobId?: string;
  node?: string;
  /** Why a task waits, or what ended it. */
  detail?: string;
  envStep?: number;
  steps?: number;
  /** The run's status.json state (running, interrupted, finished, failed). */
  runState?: RunStatus['state'];
  /** Failures: the end of the task's Slurm output file. */
  errorTail?: string;
  /** The task's Slurm output file (stdout and stderr of every attempt). */
  output?: string;
}

const runningStates = new Set(['CONFIGURING', 'RUNNING', 'SIGNALING', 'STAGE_OUT', 'RESIZING', 'SUSPENDED']);
const requeuedStates = new Set(['REQUEUED', 'REQUEUE_FED', 'REQUEUE_HOLD', 'PREEMPTED']);

/** Last non-empty lines of a text file, or undefined when it does not exist. */
export function tailLines(path: string, n: number): string | undefined {
  if (!existsSync(path)) return undefined;
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
  return lines.slice(-n).join('\n');
}

/**
 * The state of one run from Slurm's view of its task (undefined: Slurm does
 * not report it, e.g. the controller has forgotten it and there is no
 * accounting) and the run's status.json.
 */
export function judgeRun(slurm: SlurmTask | undefined, status: RunStatus | undefined): { state: SweepRunState; detail?: string } {
  const finished = status?.state === 'finished';
  if (!slurm) {
    if (finished) return { state: 'completed' };
    if (status?.state === 'failed') return { state: 'failed', detail: status.reason ?? 'the run failed' };
    return {
      state: 'unknown',
      detail: status ? `Slurm no longer reports the task; the run's status.json says ${status.state}` : 'Slurm no longer reports the task and the run wrote no status.json',
    };
  }
  const s = slurm.state;
  if (s === 'PENDING') {
    // A pending task whose run has already run part-way was sent back to the queue (requeue, preemption, node failure).
    if (status && !finished) return { state: 'requeued', detail: `waiting (${slurm.reason ?? 'pending'}); resumes from its checkpoint` };
    return { state: 'pending', detail: slurm.reason ? `waiting (${slurm.reason})` : 'waiting' };
  }
  if (requeuedStates.has(s)) return { state: 'requeued', detail: s === 'REQUEUE_HOLD' ? 'held after requeue: `scontrol release` it' : 'back to the queue' };
  if (runningStates.has(s)) return { state: 'running' };
  if (s === 'COMPLETING') return finished ? { state: 'completed' } : { state: 'running', detail: 'ending (COMPLETING)' };
  if (s === 'COMPLETED') {
    if (finished) return { state: 'completed' };
    return { state: 'failed', detail: `the task ended with exit code 0 but the run's status.json says ${status?.state ?? 'nothing (missing)'}` };
  }
  if (s === 'TIMEOUT') return { state: 'timeout', detail: 'hit the time limit; resubmit the sweep to resume it from its checkpoint (a longer --time, or a larger --signal-seconds)' };
  if (s === 'CANCELLED') return { state: 'cancelled', detail: slurm.reason && slurm.reason !== 'None' ? slurm.reason : 'cancelled' };
  const code = slurm.exitCode ? `exit code ${slurm.exitCode}` : undefined;
  const why = [s, code, slurm.reason].filter(Boolean).join(', ');
  return { state: 'failed', detail: status?.state === 'failed' && status.reason ? `${why}: ${status.reason}` : why };
}

export interface StatusInput {
  entry: SlurmRunEntry;
  job: SlurmJob | undefined;
  slurm: SlurmTask | undefined;
}

export function statusLine({ entry, job, slurm }: StatusInput): RunStatusLine {
  const status = readStatus(entry.dir);
  const line: RunStatusLine = { id: entry.id, taskId: entry.taskId, state: 'not submitted' };
  if (status) {
    line.runState = status.state;
    line.envStep = status.envStep;
  }
  const steps = peekRunConfig(entry.dir)?.config.steps;
  if (typeof steps === 'number') line.steps = steps;
  if (!job) {
    // Runs left out of every job had finished before the sweep was submitted.
    if (status?.state === 'finished') line.state = 'completed';
    else line.detail = 'not part of any submitted job: submit the sweep again';
    return line;
  }
  line.job = `${job.jobId}_${entry.taskId}`;
  line.output = outputFile(job, entry.taskId);
  if (slurm) {
    line.slurmState = slurm.state;
    if (slurm.jobId) line.slurmJobId = slurm.jobId;
    if (slurm.node) line.node = slurm.node;
  }
  const judged = judgeRun(slurm, status);
  line.state = judged.state;
  if (judged.detail) line.detail = judged.detail;
  if (line.state === 'failed' || line.state === 'timeout' || line.state === 'unknown') {
    const tail = tailLines(line.output, 8);
    if (tail) line.errorTail = tail;
  }
  return line;
}

/** Slurm's view of a job's tasks: the controller's queue first, accounting for what it has forgotten. */
async function slurmView(job: SlurmJob, env?: NodeJS.ProcessEnv): Promise<Map<number, SlurmTask>> {
  const [queue, accounting] = await Promise.all([queueTasks(job.jobId, env), accountingTasks(job.jobId, env)]);
  const tasks = new Map<number, SlurmTask>();
  for (const t of accounting ?? []) tasks.set(t.taskId, t);
  for (const t of queue) {
    const acct = tasks.get(t.taskId);
    // sacct knows the exit code, squeue the live state; keep both.
    tasks.set(t.taskId, acct?.exitCode !== undefined ? { ...t, exitCode: acct.exitCode } : t);
  }
  return tasks;
}

export async function sweepStatus(index: SlurmIndex, env?: NodeJS.ProcessEnv): Promise<RunStatusLine[]> {
  const views = new Map<string, Map<number, SlurmTask>>();
  for (const job of index.jobs) views.set(job.jobId, await slurmView(job, env));
  return index.runs.map((entry) => {
    const job = jobForTask(index, entry.taskId);
    return statusLine({ entry, job, slurm: job ? views.get(job.jobId)?.get(entry.taskId) : undefined });
  });
}

export function formatStatus(index: SlurmIndex, lines: readonly RunStatusLine[]): string {
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l.state, (counts.get(l.state) ?? 0) + 1);
  const job = index.jobs[index.jobs.length - 1];
  const out = [
    `sweep ${index.name}: ${job ? `Slurm job ${job.jobId}` : 'not submitted'}, ${lines.length} runs: ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}`,
  ];
  const width = Math.max(...lines.map((l) => l.id.length));
  for (const l of lines) {
    const progress = l.envStep === undefined && l.steps === undefined ? '-' : `${l.envStep ?? '-'}/${l.steps ?? '?'}`;
    const cells = [l.id.padEnd(width), l.state.padEnd(9), (l.job ?? '-').padEnd(8), (l.node ?? '-').padEnd(10), progress.padEnd(13), l.detail ?? ''];
    out.push(cells.join('  ').trimEnd());
  }
  for (const l of lines) {
    if (!l.errorTail) continue;
    out.push('', `${l.id} (${l.state}), end of ${l.output}:`, ...l.errorTail.split('\n').map((t) => `  ${t}`));
  }
  return out.join('\n');
}

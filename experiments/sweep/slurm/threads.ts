import { configSchema } from '../../../src/config/schema.js';
import type { RunSpec } from '../spec.js';

/** The schema's upper bound on --conv-workers: a 128-CPU task must not make the run's config invalid. */
const maxConvWorkers = configSchema.innerType().shape.convWorkers.unwrap().maxValue ?? Number.POSITIVE_INFINITY;

/**
 * Thread settings of a run from the CPUs Slurm gave its array task
 * (SLURM_CPUS_PER_TASK). --conv-workers N means N tfjs workers beside the
 * run's own thread, or N + 1 libtorch threads: either way CPUs - 1 fills the
 * allocation. Kept in this one function so that settings of other engines
 * can join it.
 */
export function threadArgsForCpus(cpusPerTask: number | undefined, run: Pick<RunSpec, 'overrides'>): string[] {
  // A value the sweep file sets on purpose wins over the allocation.
  if ('convWorkers' in run.overrides) return [];
  // Slurm's default allocation is one CPU, and it only exports the variable when --cpus-per-task was asked for.
  const cpus = cpusPerTask !== undefined && Number.isInteger(cpusPerTask) && cpusPerTask > 0 ? cpusPerTask : 1;
  return ['--conv-workers', String(Math.min(cpus - 1, maxConvWorkers))];
}

/** SLURM_CPUS_PER_TASK as a number, or undefined when unset or not a positive integer. */
export function cpusPerTaskFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.SLURM_CPUS_PER_TASK;
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined;
  const n = Number(raw);
  return n > 0 ? n : undefined;
}

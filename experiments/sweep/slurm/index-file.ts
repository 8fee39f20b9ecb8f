/*
 * index.json of a sweep submitted to Slurm: the run table the array tasks
 * read (task id -> run) and every job submitted for the sweep. It is written
 * only by the submitting command; tasks and `sweep status` read it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../../src/core/errors.js';
import { writeJsonAtomic } from '../../../src/run/fs-atomic.js';
import { auxNames } from '../../../src/config/schema.js';
import type { RunSpec, Sweep } from '../spec.js';

const runEntrySchema = z.object({
  taskId: z.number().int().nonnegative(),
  id: z.string(),
  dir: z.string(),
  env: z.string(),
  /** Absent in indexes written before sweeps had variants: the aux loss named the variant then. */
  variant: z.string().optional(),
  aux: z.enum(auxNames),
  seed: z.number().int().nonnegative(),
  preset: z.string().optional(),
  overrides: z.record(z.unknown()),
});

const jobSchema = z.object({
  jobId: z.string(),
  submittedAt: z.string(),
  script: z.string(),
  /** The runs this job's array covers (runs already finished at submission are left out). */
  taskIds: z.array(z.number().int().nonnegative()),
  array: z.string(),
  /** Slurm output file pattern (%A job, %a task): stdout and stderr of every attempt. */
  output: z.string(),
});

export const slurmIndexSchema = z
  .object({
    executor: z.literal('slurm'),
    name: z.string(),
    dir: z.string(),
    sweepFile: z.string().optional(),
    updatedAt: z.string(),
    runs: z.array(runEntrySchema),
    /** Oldest first; the last one is the sweep's current job. */
    jobs: z.array(jobSchema),
  })
  .passthrough();

export type SlurmIndex = z.infer<typeof slurmIndexSchema>;
export type SlurmRunEntry = z.infer<typeof runEntrySchema>;
export type SlurmJob = z.infer<typeof jobSchema>;

export function indexFile(sweepDir: string): string {
  return join(sweepDir, 'index.json');
}

export function runEntries(sweep: Sweep): SlurmRunEntry[] {
  return sweep.runs.map((run, taskId) => {
    const entry: SlurmRunEntry = { taskId, id: run.id, dir: run.dir, env: run.env, variant: run.variant, aux: run.aux, seed: run.seed, overrides: run.overrides };
    if (run.preset !== undefined) entry.preset = run.preset;
    return entry;
  });
}

export function entryToRun(entry: SlurmRunEntry): RunSpec {
  const run: RunSpec = {
    id: entry.id, dir: entry.dir, env: entry.env, variant: entry.variant ?? entry.aux, aux: entry.aux, seed: entry.seed, overrides: entry.overrides,
  };
  if (entry.preset !== undefined) run.preset = entry.preset;
  return run;
}

/** The raw index, whichever executor wrote it; undefined when there is none. */
export function readAnyIndex(path: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`Cannot read the sweep index ${path}: ${(error as Error).message}`);
  }
}

export function isSlurmIndex(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && (raw as { executor?: unknown }).executor === 'slurm';
}

/** The Slurm index at `path`, or undefined when the sweep was never submitted to Slurm (or ran locally since). */
export function readSlurmIndex(path: string): SlurmIndex | undefined {
  const raw = readAnyIndex(path);
  if (!isSlurmIndex(raw)) return undefined;
  const parsed = slurmIndexSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`${path} is not a sweep index this version can read: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

export function writeSlurmIndex(index: SlurmIndex): void {
  writeJsonAtomic(indexFile(index.dir), { ...index, updatedAt: new Date().toISOString() });
}

/** The newest job whose array covers this task, if any. */
export function jobForTask(index: SlurmIndex, taskId: number): SlurmJob | undefined {
  for (let i = index.jobs.length - 1; i >= 0; i -= 1) {
    const job = index.jobs[i]!;
    if (job.taskIds.includes(taskId)) return job;
  }
  return undefined;
}

/** A task's Slurm output file: the job's pattern with %A and %a filled in. */
export function outputFile(job: SlurmJob, taskId: number): string {
  return job.output.replace(/%A/g, job.jobId).replace(/%a/g, String(taskId));
}

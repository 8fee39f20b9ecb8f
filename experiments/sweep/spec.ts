/*
 * A sweep file names tasks x seeds x variants (an aux loss, or a named aux
 * loss with config overrides); expansion turns it into one run each, with a
 * deterministic directory so that re-running the same sweep finds (and skips
 * or resumes) the runs of an earlier session.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { runnableEnvIds } from '../../envs/registry.js';
import { ConfigError } from '../../src/core/errors.js';
import { kebab, resolveConfig } from '../../src/config/resolve.js';
import { pathSegmentProblem } from '../../src/run/run-dir.js';
import { auxNames, configSchema, type AuxName, type Config } from '../../src/config/schema.js';

/** Fields a sweep sets per run itself; overriding them would break the run-dir naming. */
const perRunFields = ['env', 'aux', 'seed', 'runsDir'] as const;

const overridesSchema = z.record(z.unknown()).superRefine((value, ctx) => {
  const known = new Set(Object.keys(configSchema.innerType().shape));
  for (const key of Object.keys(value)) {
    if (!known.has(key)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `unknown config field '${key}' (see \`curl-rl config\` for the fields)` });
    } else if ((perRunFields as readonly string[]).includes(key)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `'${key}' is set per run by the sweep (tasks/aux/seeds/--runs-dir), not in overrides` });
    }
  }
});

const safeName = z
  .string()
  .regex(/^[A-Za-z0-9._-]+$/, 'use letters, digits, ".", "_" and "-" only (it names a folder)')
  .refine((name) => name !== '.' && name !== '..', 'not "." or ".." (it names a folder inside the runs folder)');

/**
 * A named agent configuration: an aux loss plus config fields, so that one
 * sweep can hold pixel SAC (`aux none`, `aug none`) beside SAC with crops
 * (`aux none`), which an aux name alone cannot tell apart.
 */
const variantSchema = z
  .object({ name: safeName, aux: z.enum(auxNames), overrides: overridesSchema.optional() })
  .strict();

const taskSchema = z.union([
  z.string().min(1),
  z.object({ env: z.string().min(1), preset: z.string().min(1).optional(), overrides: overridesSchema.optional() }).strict(),
]);

export const sweepFileSchema = z
  .object({
    name: safeName,
    description: z.string().optional(),
    tasks: z.array(taskSchema).min(1),
    seeds: z.array(z.number().int().nonnegative()).min(1),
    /** Shorthand for variants named after their aux loss; default ['curl', 'none'] when neither is given. */
    aux: z.array(z.enum(auxNames)).min(1).optional(),
    variants: z.array(variantSchema).min(1).optional(),
    /** One preset for every task, or a map env -> preset. */
    preset: z.union([z.string().min(1), z.record(z.string().min(1))]).optional(),
    overrides: overridesSchema.optional(),
    runsDir: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((file, ctx) => {
    if (file.aux !== undefined && file.variants !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['variants'], message: "give either 'aux' (variants named after their aux loss) or 'variants', not both" });
    }
    const names = (file.variants ?? []).map((v) => v.name);
    const repeated = names.filter((name, i) => names.indexOf(name) !== i);
    if (repeated.length > 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['variants'], message: `variant name(s) ${[...new Set(repeated)].join(', ')} repeat (each names the runs' folders)` });
  });

export type SweepFile = z.infer<typeof sweepFileSchema>;
export type SweepVariant = z.infer<typeof variantSchema>;

/** The file's variants: its `variants`, else one per `aux` entry, named after it. */
export function sweepVariants(file: SweepFile): SweepVariant[] {
  if (file.variants !== undefined) return file.variants;
  return (file.aux ?? ['curl', 'none']).map((aux) => ({ name: aux, aux }));
}

export interface RunSpec {
  /** `<env>-<variant>-s<seed>`: unique within a sweep, and the run folder's name. */
  id: string;
  dir: string;
  env: string;
  /** The sweep variant's name (the aux loss's name for a sweep file's `aux` list). */
  variant: string;
  aux: AuxName;
  seed: number;
  /** Absolute path or preset name, as `train --preset` takes it. */
  preset?: string;
  /** Config fields passed as flags, on top of the presets. */
  overrides: Partial<Record<keyof Config, unknown>>;
}

export interface Sweep {
  name: string;
  /** `<runsDir>/<name>`: holds the run folders, index.json and logs/. */
  dir: string;
  runs: RunSpec[];
}

export function parseSweepFile(raw: unknown, source = 'sweep file'): SweepFile {
  const result = sweepFileSchema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
  throw new ConfigError(
    `Invalid ${source}:\n  ${lines.join('\n  ')}\n` +
      'Expected { "name", "tasks": [env ids or {env, preset?, overrides?}], "seeds": [ints], "aux"?: ["curl","none"], "preset"?, "overrides"?, "runsDir"? }.',
  );
}

export function loadSweepFile(path: string): SweepFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`Cannot read sweep file ${path}: ${(error as Error).message}`);
  }
  return parseSweepFile(raw, `sweep file ${path}`);
}

/** Preset paths in a sweep file are relative to the file, so a sweep can be run from any folder. */
function resolvePreset(preset: string, baseDir: string): string {
  if (preset.endsWith('.json') || preset.includes('/')) return isAbsolute(preset) ? preset : resolve(baseDir, preset);
  return preset;
}

export interface ExpandOptions {
  /** Overrides the sweep file's runsDir (relative to the working directory). */
  runsDir?: string;
  /** Folder the sweep file lives in: relative preset paths and runsDir resolve against it. Default: the working directory. */
  baseDir?: string;
  /** Validate each run's resolved config now, so a typo fails before anything is spawned. Default true. */
  validate?: boolean;
  /** Where task presets live (tests). */
  presetsDir?: string;
}

/**
 * Why `run` cannot be a run of the sweep whose folder is `sweepDir`, or null.
 * A sweep moves and writes run folders, so each must be `<sweepDir>/<id>`,
 * one plain name below the sweep's folder: never a folder elsewhere on the
 * disk (a task named "../x" would otherwise make `<sweepDir>/../x-none-s1` a
 * run folder, which a fresh start moves aside).
 */
export function runDirProblem(sweepDir: string, run: Pick<RunSpec, 'id' | 'dir'>): string | null {
  const segment = pathSegmentProblem(run.id);
  if (segment !== null) return `run id ${JSON.stringify(run.id)} cannot name a folder: ${segment}`;
  const expected = join(resolve(sweepDir), run.id);
  if (resolve(run.dir) !== expected) return `its run directory ${run.dir} is not ${expected}, the folder the sweep keeps run ${run.id} in`;
  return null;
}

/** Why `overrides` cannot be a run's overrides (an unknown field, or one the sweep sets per run, such as its folder), or null. */
export function overridesProblem(overrides: unknown): string | null {
  const result = overridesSchema.safeParse(overrides);
  return result.success ? null : result.error.issues.map((i) => i.message).join('; ');
}

/** Why a sweep's task cannot be run, or null: it must be a registered env or remote (so it is also a plain folder name). */
export function taskEnvProblem(env: string): string | null {
  const runnable = runnableEnvIds();
  if (runnable.includes(env)) return null;
  const segment = pathSegmentProblem(env);
  return `not a registered environment${segment ? ` (and ${segment}, as it names the run's folder)` : ''}; allowed: ${runnable.join(', ')}`;
}

export function expandSweep(file: SweepFile, options: ExpandOptions = {}): Sweep {
  const baseDir = options.baseDir ?? process.cwd();
  // Every task is checked before any run is planned, so no path is ever built from a name that is not a task's.
  for (const task of file.tasks) {
    const env = typeof task === 'string' ? task : task.env;
    const problem = (options.validate ?? true) ? taskEnvProblem(env) : pathSegmentProblem(env);
    if (problem !== null) throw new ConfigError(`Sweep '${file.name}', task ${JSON.stringify(env)}: ${problem}`);
  }
  // The file's runsDir is relative to the file, so a committed sweep finds its
  // runs again from any working directory; --runs-dir is relative to the cwd.
  const runsDir =
    options.runsDir !== undefined ? resolve(options.runsDir) : file.runsDir !== undefined ? resolve(baseDir, file.runsDir) : resolve('runs');
  const sweepDir = join(runsDir, file.name);
  const runs: RunSpec[] = [];
  const seen = new Set<string>();
  // Order: task, then seed, then variant, so a partly done sweep has every
  // task's curl/none pair for the first seeds rather than all seeds of one task.
  const variants = sweepVariants(file);
  for (const task of file.tasks) {
    const env = typeof task === 'string' ? task : task.env;
    const taskPreset = typeof task === 'string' ? undefined : task.preset;
    const sweepPreset = typeof file.preset === 'string' ? file.preset : file.preset?.[env];
    const preset = taskPreset ?? sweepPreset;
    const overrides = { ...(file.overrides ?? {}), ...(typeof task === 'string' ? {} : (task.overrides ?? {})) };
    for (const seed of file.seeds) {
      for (const variant of variants) {
        const id = `${env}-${variant.name}-s${seed}`;
        if (seen.has(id)) {
          throw new ConfigError(`Sweep '${file.name}' lists run ${id} twice (tasks, seeds and variants must not repeat).`);
        }
        seen.add(id);
        // The variant's own fields define it, so they win over the sweep's and the task's.
        const run: RunSpec = { id, dir: join(sweepDir, id), env, variant: variant.name, aux: variant.aux, seed, overrides: { ...overrides, ...(variant.overrides ?? {}) } };
        const outside = runDirProblem(sweepDir, run);
        if (outside !== null) throw new ConfigError(`Sweep '${file.name}', run ${JSON.stringify(id)}: ${outside}`);
        if (preset !== undefined) run.preset = resolvePreset(preset, baseDir);
        runs.push(run);
      }
    }
  }
  if (options.validate ?? true) {
    for (const run of runs) {
      try {
        resolveConfig({
          flags: { ...run.overrides, env: run.env, aux: run.aux, seed: run.seed },
          ...(run.preset !== undefined ? { preset: run.preset } : {}),
          ...(options.presetsDir !== undefined ? { presetsDir: options.presetsDir } : {}),
        });
      } catch (error) {
        throw new ConfigError(`Sweep '${file.name}', run ${run.id}: ${(error as Error).message}`);
      }
    }
  }
  return { name: file.name, dir: sweepDir, runs };
}

function flagValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Arguments of `curl-rl train` that start this run from scratch (plain progress lines: the output goes to a log file). */
export function freshTrainArgs(run: RunSpec): string[] {
  const args = ['train', '--env', run.env, '--aux', run.aux, '--seed', String(run.seed), '--run-dir', run.dir, '--progress', 'plain'];
  if (run.preset !== undefined) args.push('--preset', run.preset);
  for (const [field, value] of Object.entries(run.overrides)) args.push(`--${kebab(field)}`, flagValue(value));
  return args;
}

export function resumeTrainArgs(run: RunSpec): string[] {
  return ['train', '--resume', run.dir, '--progress', 'plain'];
}

/** A run's results folder name: `<variant>-s<seed>`, with the env in front when the sweep has several tasks. */
export function resultsName(sweep: Sweep, run: RunSpec): string {
  const oneTask = new Set(sweep.runs.map((r) => r.env)).size === 1;
  return oneTask ? `${run.variant}-s${run.seed}` : run.id;
}

/**
 * The sweep narrowed to the runs named in `ids` (run ids as `--dry-run`
 * lists them), in the sweep's order; an id that is not a run of the sweep
 * is a bad flag, reported with the ids there are.
 */
export function selectRuns(sweep: Sweep, ids: readonly string[]): Sweep {
  const known = new Set(sweep.runs.map((r) => r.id));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new ConfigError(
      `--only ${unknown.join(', ')}: not ${unknown.length === 1 ? 'a run' : 'runs'} of sweep '${sweep.name}'. Its runs: ${sweep.runs.map((r) => r.id).join(', ')}.`,
    );
  }
  const wanted = new Set(ids);
  return { ...sweep, runs: sweep.runs.filter((r) => wanted.has(r.id)) };
}

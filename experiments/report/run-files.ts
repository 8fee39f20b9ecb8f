/*
 * Readers for the run directory that `curl-rl train` writes (config.json,
 * status.json, metrics.jsonl). They are read-only and tolerant: a run killed
 * mid-write leaves a truncated last line, which is skipped and counted rather
 * than failing a whole report.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { latestCheckpoint } from '../../src/loop/checkpoint.js';

// The report, the sweeps and the loop read status.json through one reader.
export { readStatus, type RunState, type RunStatus } from '../../src/run/status.js';

export const runConfigFileSchema = z
  .object({
    config: z.object({ env: z.string(), aux: z.string(), seed: z.number() }).passthrough(),
    version: z.string().optional(),
    backend: z.string().optional(),
    gitCommit: z.string().nullable().optional(),
    createdAt: z.string().optional(),
  })
  .passthrough();
export type RunConfigFile = z.infer<typeof runConfigFileSchema>;

const stepFields = { agentStep: z.number(), envStep: z.number(), wallTime: z.number().optional() };
export const evalRecordSchema = z
  .object({ type: z.literal('eval'), ...stepFields, mean: z.number(), std: z.number().optional(), returns: z.array(z.number()).optional() })
  .passthrough();
export const trainRecordSchema = z
  .object({ type: z.literal('train'), ...stepFields, envStepsPerSec: z.number().optional(), updatesPerSec: z.number().optional() })
  .passthrough();
export type EvalRecord = z.infer<typeof evalRecordSchema>;
export type TrainRecord = z.infer<typeof trainRecordSchema>;

export interface MetricsLog {
  evals: EvalRecord[];
  train: TrainRecord[];
  /** Every parsed record of any type, in file order. */
  records: Array<Record<string, unknown> & { type: string }>;
  /** Lines that were not JSON objects with a string `type`, or failed their record schema. */
  skippedLines: number;
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/**
 * A run's config.json as far as the report needs it (env, aux, seed, the rest
 * passed through), or undefined when it is absent or unreadable: the report
 * and the Slurm status read runs of any version, half-made or damaged, and
 * skip what they cannot use. Train and probe use src/run/run-dir.ts
 * readRunConfig, which validates the whole config and refuses such a file.
 */
export function peekRunConfig(dir: string): RunConfigFile | undefined {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return undefined;
  try {
    const parsed = runConfigFileSchema.safeParse(readJson(path));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function parseMetricsText(text: string): MetricsLog {
  const log: MetricsLog = { evals: [], train: [], records: [], skippedLines: 0 };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      log.skippedLines += 1;
      continue;
    }
    if (typeof value !== 'object' || value === null || typeof (value as { type?: unknown }).type !== 'string') {
      log.skippedLines += 1;
      continue;
    }
    const record = value as Record<string, unknown> & { type: string };
    if (record.type === 'eval') {
      const parsed = evalRecordSchema.safeParse(record);
      if (!parsed.success) {
        log.skippedLines += 1;
        continue;
      }
      log.evals.push(parsed.data);
    } else if (record.type === 'train') {
      const parsed = trainRecordSchema.safeParse(record);
      if (!parsed.success) {
        log.skippedLines += 1;
        continue;
      }
      log.train.push(parsed.data);
    }
    log.records.push(record);
  }
  return log;
}

export function readMetrics(dir: string): MetricsLog {
  const path = join(dir, 'metrics.jsonl');
  if (!existsSync(path)) return { evals: [], train: [], records: [], skippedLines: 0 };
  return parseMetricsText(readFileSync(path, 'utf8'));
}

/**
 * Whether `train --resume` has something to resume from: a complete
 * checkpoint in the training loop's layout (checkpoints/ckpt-N/ with its
 * loop state), as the loop itself decides it.
 */
export function hasCheckpoint(dir: string): boolean {
  return existsSync(dir) && latestCheckpoint(dir) !== null;
}

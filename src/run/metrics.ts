/*
 * Typed records of metrics.jsonl. Every record carries both counters:
 * `agentStep` (decisions of the agent) and `envStep` (physics-control steps,
 * agentStep x actionRepeat), the unit the CURL paper reports. `wallTime` is
 * seconds of training since the run began, summed over resumes.
 */
import { appendFileSync, existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './fs-atomic.js';

interface StepStamp {
  agentStep: number;
  envStep: number;
  wallTime: number;
}

export interface TrainRecord extends StepStamp {
  type: 'train';
  updates: number;
  envStepsPerSec: number;
  updatesPerSec: number;
  [metric: string]: number | string;
}

export interface EpisodeRecord extends StepStamp {
  type: 'episode';
  episode: number;
  return: number;
  /** Agent steps in the episode. */
  length: number;
}

export interface EvalRecord extends StepStamp {
  type: 'eval';
  mean: number;
  std: number;
  returns: number[];
}

export interface CheckpointRecord extends StepStamp {
  type: 'checkpoint';
  path: string;
  reason: string;
}

export interface RestartRecord extends StepStamp {
  type: 'restart';
  error: string;
  restarts: number;
}

export interface ResumeRecord extends StepStamp {
  type: 'resume';
  checkpoint: string;
}

export type MetricsRecord = TrainRecord | EpisodeRecord | EvalRecord | CheckpointRecord | RestartRecord | ResumeRecord;

export class MetricsLog {
  readonly path: string;
  readonly evalCsvPath: string;
  private bytes: number;
  /** The eval records in the log, kept so eval.csv is rewritten without re-reading the whole log. */
  private evals: EvalRecord[];

  constructor(runDir: string) {
    this.path = join(runDir, 'metrics.jsonl');
    this.evalCsvPath = join(runDir, 'eval.csv');
    if (!existsSync(this.path)) writeFileSync(this.path, '');
    this.bytes = statSync(this.path).size;
    this.evals = this.evalRecords();
  }

  /** Byte length of the log: a checkpoint stores it so a resume can drop records written after it. */
  offset(): number {
    return this.bytes;
  }

  /** Synchronous so that a record is on disk before the checkpoint that counts it. */
  append(record: MetricsRecord): void {
    const line = `${JSON.stringify(record)}\n`;
    appendFileSync(this.path, line);
    this.bytes += Buffer.byteLength(line);
    if (record.type === 'eval') {
      this.evals.push(record);
      this.writeEvalCsv();
    }
  }

  /** Drops records written after a checkpoint, which the resumed run will write again. */
  truncateTo(offset: number): void {
    if (offset > this.bytes) {
      throw new Error(`${this.path} is shorter (${this.bytes} bytes) than the checkpoint says (${offset}); the log was edited or lost.`);
    }
    truncateSync(this.path, offset);
    this.bytes = offset;
    this.evals = this.evalRecords();
    this.writeEvalCsv();
  }

  records(): MetricsRecord[] {
    return readMetrics(this.path);
  }

  private evalRecords(): EvalRecord[] {
    return this.records().filter((r): r is EvalRecord => r.type === 'eval');
  }

  private writeEvalCsv(): void {
    const rows = this.evals.map((r) => `${r.envStep},${r.agentStep},${r.mean},${r.std},${r.wallTime}`);
    writeFileAtomic(this.evalCsvPath, ['envStep,agentStep,mean,std,wallTime', ...rows].join('\n') + '\n');
  }
}

/**
 * The records of a metrics log. A last line without its newline is a record
 * whose write was cut off (a full disk, a kill): it is left out, and a resume
 * cuts the log back before it anyway.
 */
export function readMetrics(path: string): MetricsRecord[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.pop(); // '' after the final newline, or the torn last record
  const records: MetricsRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      records.push(JSON.parse(line) as MetricsRecord);
    } catch {
      throw new Error(`${path}, line ${i + 1}, is not a JSON record: ${JSON.stringify(line.slice(0, 80))}. The log was edited or damaged.`);
    }
  });
  return records;
}

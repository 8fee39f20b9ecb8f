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
  /** Each episode's return; absent in a record put back from eval.csv after metrics.jsonl lost it (see MetricsLog.resumeAt). */
  returns?: number[];
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
    if (offset > this.bytes) throw new RangeError(`${this.path}: cannot cut ${this.bytes} bytes back to ${offset}; resumeAt rebuilds a log that is short`);
    truncateSync(this.path, offset);
    this.bytes = offset;
    this.evals = this.evalRecords();
    this.writeEvalCsv();
  }

  /**
   * Cuts the log back to the offset a checkpoint recorded, as truncateTo. A
   * log shorter than that (deleted, or cut by a full disk or by hand) is no
   * dead end: it is rebuilt from what is left, its complete records plus the
   * evaluations up to the checkpoint that eval.csv still has and the log lost,
   * each put back in step order (mean and std only: eval.csv keeps no
   * per-episode returns). Returns what happened, for a warning, or null when
   * the log was whole.
   */
  resumeAt(offset: number, checkpointAgentStep: number): string | null {
    if (offset <= this.bytes) {
      this.truncateTo(offset);
      return null;
    }
    const had = this.bytes;
    const kept = this.records();
    const present = new Set(kept.filter((r) => r.type === 'eval').map((r) => r.agentStep));
    const lost = readEvalCsv(this.evalCsvPath).filter((r) => r.agentStep <= checkpointAgentStep && !present.has(r.agentStep));
    const rebuilt: MetricsRecord[] = [];
    for (const record of kept) {
      while (lost.length > 0 && lost[0]!.agentStep < record.agentStep) rebuilt.push(lost.shift()!);
      rebuilt.push(record);
    }
    rebuilt.push(...lost);
    const text = rebuilt.map((r) => `${JSON.stringify(r)}\n`).join('');
    writeFileAtomic(this.path, text);
    this.bytes = Buffer.byteLength(text);
    this.evals = rebuilt.filter((r): r is EvalRecord => r.type === 'eval');
    this.writeEvalCsv();
    const putBack = rebuilt.length - kept.length;
    return (
      `${this.path} has ${had} bytes, fewer than the ${offset} the checkpoint counted: records were lost. ` +
      `Rebuilt it from what is left: its ${kept.length} complete record${kept.length === 1 ? '' : 's'}` +
      (putBack > 0 ? ` and ${putBack} evaluation${putBack === 1 ? '' : 's'} from eval.csv (mean and std; no per-episode returns)` : '') +
      '; the other records before the checkpoint are gone, and the run continues from there.'
    );
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

/** The rows of eval.csv as eval records (no per-episode returns: the table has none), in step order; rows that do not parse are left out. */
function readEvalCsv(path: string): EvalRecord[] {
  if (!existsSync(path)) return [];
  const rows: EvalRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n').slice(1)) {
    const cells = line.split(',');
    const [envStep, agentStep, mean, std, wallTime] = cells.map(Number);
    if (cells.length !== 5 || ![envStep, agentStep, mean, std, wallTime].every((x) => Number.isFinite(x))) continue;
    rows.push({ type: 'eval', agentStep: agentStep!, envStep: envStep!, wallTime: wallTime!, mean: mean!, std: std! });
  }
  return rows.sort((a, b) => a.agentStep - b.agentStep);
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

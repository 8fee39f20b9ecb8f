/*
 * What a run shows in TensorBoard: the numbers of metrics.jsonl as scalars
 * at the environment step (the x axis of the CURL paper), grouped by tag
 * prefix so TensorBoard draws one section each:
 *   train/<metric>   every update metric of a train record (critic_loss, curl_accuracy, ...)
 *   perf/<counter>   updates_per_sec, env_steps_per_sec, updates, agent_step, wall_time
 *   eval/return      the evaluation's mean return; eval/return_std, _min, _max
 *   episode/return   each training episode's return and length
 * plus the resolved config as text (`config`) and, at each evaluation,
 * frames of its first episode as one image (`eval/frames`).
 */
import { encodePng } from '../../../envs/image.js';
import type { MetricsRecord } from '../metrics.js';
import { contactSheet } from './contact-sheet.js';
import { EventFileWriter, tensorBoardDir } from './event-files.js';
import { imageEvent, scalarsEvent, sessionStartEvent, textEvent, type ScalarValue } from './events.js';

/** criticLoss -> critic_loss, the spelling TensorBoard users know from the reference code. */
export function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

/** Train-record fields that are counters and rates of the loop rather than update metrics. */
const perfFields: Readonly<Record<string, string>> = {
  updatesPerSec: 'perf/updates_per_sec',
  envStepsPerSec: 'perf/env_steps_per_sec',
  updates: 'perf/updates',
  agentStep: 'perf/agent_step',
  wallTime: 'perf/wall_time',
};

/** The scalars of one metrics record; the record's envStep is their step. Records of other kinds have none. */
export function recordScalars(record: MetricsRecord): ScalarValue[] {
  if (record.type === 'train') {
    const values: ScalarValue[] = [];
    for (const [field, value] of Object.entries(record)) {
      if (field === 'type' || field === 'envStep' || typeof value !== 'number') continue;
      values.push({ tag: perfFields[field] ?? `train/${snakeCase(field)}`, value });
    }
    return values;
  }
  if (record.type === 'eval') {
    const values = [
      { tag: 'eval/return', value: record.mean },
      { tag: 'eval/return_std', value: record.std },
    ];
    // an evaluation put back from eval.csv (a resume that rebuilt metrics.jsonl) has no per-episode returns
    if (record.returns && record.returns.length > 0) {
      values.push({ tag: 'eval/return_min', value: Math.min(...record.returns) }, { tag: 'eval/return_max', value: Math.max(...record.returns) });
    }
    return values;
  }
  if (record.type === 'episode') {
    return [
      { tag: 'episode/return', value: record.return },
      { tag: 'episode/length', value: record.length },
    ];
  }
  return [];
}

/** The config as a two-column Markdown table (TensorBoard's text dashboard renders Markdown). */
export function configMarkdown(config: Readonly<Record<string, unknown>>): string {
  const cell = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value)).replace(/\|/g, '\\|');
  const rows = Object.entries(config).filter(([, v]) => v !== undefined).map(([k, v]) => `| ${k} | ${cell(v)} |`);
  return ['| field | value |', '| --- | --- |', ...rows].join('\n');
}

/** The event file one training process writes into <run>/tb/. */
export class TensorBoardLog {
  private readonly writer: EventFileWriter;
  private readonly now: () => number;

  constructor(runDir: string, options: { now?: () => number; host?: string } = {}) {
    this.now = options.now ?? (() => Date.now() / 1000);
    this.writer = new EventFileWriter(tensorBoardDir(runDir), { now: this.now, ...(options.host ? { host: options.host } : {}) });
  }

  get path(): string {
    return this.writer.path;
  }

  record(record: MetricsRecord): void {
    const values = recordScalars(record);
    if (values.length > 0) this.writer.write(scalarsEvent(record.envStep, this.now(), values));
  }

  config(step: number, config: Readonly<Record<string, unknown>>): void {
    this.writer.write(textEvent(step, this.now(), 'config', configMarkdown(config)));
  }

  /** Marks where a resumed process continues: a TensorBoard already running drops what it read from this step on. */
  resumed(fromStep: number): void {
    this.writer.write(sessionStartEvent(fromStep, this.now()));
  }

  evalFrames(step: number, frames: readonly Uint8Array[], size: number): void {
    if (frames.length === 0) return;
    const sheet = contactSheet(frames, size);
    this.writer.write(imageEvent(step, this.now(), 'eval/frames', { png: encodePng(sheet.rgb, sheet.width, sheet.height), width: sheet.width, height: sheet.height }));
  }
}

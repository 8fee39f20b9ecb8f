/*
 * A finished (or stopped) run's results, small enough to commit: config.json,
 * status.json, eval.csv, machine.jsonl, probe.json (`curl-rl probe --out`, where
 * the run has one) and a digest of metrics.jsonl (every
 * evaluation, and the train and episode records thinned to one per 1,000
 * environment steps). Never checkpoints, replay or TensorBoard files. The
 * digest is still a run directory to `curl-rl report`, so a benchmark's
 * summary is rebuilt from committed files alone.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { ConfigError } from '../../src/core/errors.js';
import { MACHINE_LOG } from '../../src/run/machine-log.js';
import { isRunDir } from './load-runs.js';

/** Copied as they are when the run has them. */
const copiedFiles = ['config.json', 'status.json', 'eval.csv', MACHINE_LOG, 'probe.json'] as const;

/** Environment steps per kept train or episode record. */
export const DIGEST_STEPS = 1000;

export interface ExportResult {
  out: string;
  files: string[];
  records: { eval: number; train: number; episode: number; dropped: number };
}

/**
 * metrics.jsonl reduced to what a results folder needs: every eval and resume
 * record, and of the train and episode records the last one of each
 * DIGEST_STEPS-wide window of environment steps (the latest numbers of that
 * window). Lines that are not JSON records (a torn last line) are left out.
 */
export function digestMetrics(text: string, every = DIGEST_STEPS): { lines: string[]; records: ExportResult['records'] } {
  const records = { eval: 0, train: 0, episode: 0, dropped: 0 };
  const kept: Array<{ line: string; window?: string }> = [];
  const lastInWindow = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let record: { type?: unknown; envStep?: unknown };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      records.dropped += 1;
      continue;
    }
    if (record.type === 'eval' || record.type === 'resume') {
      if (record.type === 'eval') records.eval += 1;
      kept.push({ line });
    } else if ((record.type === 'train' || record.type === 'episode') && typeof record.envStep === 'number') {
      const window = `${record.type}:${Math.floor((record.envStep - 1) / every)}`;
      const earlier = lastInWindow.get(window);
      if (earlier !== undefined) {
        kept[earlier] = { line: '' };
        records.dropped += 1;
      }
      lastInWindow.set(window, kept.length);
      kept.push({ line, window });
    } else {
      records.dropped += 1;
    }
  }
  const lines = kept.filter((k) => k.line !== '').map((k) => k.line);
  for (const line of lines) {
    const type = (JSON.parse(line) as { type: string }).type;
    if (type === 'train') records.train += 1;
    else if (type === 'episode') records.episode += 1;
  }
  return { lines, records };
}

/**
 * Writes the results of `runDir` to `out`, replacing an earlier export of
 * it: the files go to a temporary folder beside `out` first and are renamed
 * into place, so `out` is never half written.
 */
export function exportRun(runDir: string, out: string): ExportResult {
  const from = resolve(runDir);
  const to = resolve(out);
  if (!isRunDir(from)) throw new ConfigError(`${runDir} is not a run directory (it needs config.json and metrics.jsonl); expected the folder a train wrote.`);
  const inside = relative(from, to);
  if (inside === '' || (!inside.startsWith('..') && !inside.startsWith('/'))) {
    throw new ConfigError(`--out ${out} is the run directory or inside it; the results go to a folder of their own (for example experiments/results/<benchmark>/<variant>-s<seed>).`);
  }
  const partial = join(dirname(to), `.${basename(to)}.partial-${process.pid}`);
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  try {
    const files: string[] = [];
    for (const name of copiedFiles) {
      if (!existsSync(join(from, name))) continue;
      copyFileSync(join(from, name), join(partial, name));
      files.push(name);
    }
    const { lines, records } = digestMetrics(readFileSync(join(from, 'metrics.jsonl'), 'utf8'));
    writeFileSync(join(partial, 'metrics.jsonl'), lines.length > 0 ? `${lines.join('\n')}\n` : '');
    files.push('metrics.jsonl');
    const old = join(dirname(to), `.${basename(to)}.old-${process.pid}`);
    if (existsSync(to)) renameSync(to, old);
    renameSync(partial, to);
    rmSync(old, { recursive: true, force: true });
    return { out: to, files, records };
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    throw error;
  }
}

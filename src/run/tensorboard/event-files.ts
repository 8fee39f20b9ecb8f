/*
 * A run's TensorBoard event files in <run>/tb/: one file per process that
 * trains the run, `events.out.tfevents.<unix seconds>.<host>`, the name
 * TensorBoard's own writers use. Names sort in the order the files were
 * begun, which is the order TensorBoard reads them in.
 *
 * Appends are synchronous, like metrics.jsonl's, so the files' sizes at a
 * checkpoint are exactly what the run had logged by then; a resume cuts them
 * back to those sizes and removes files begun after it, so the steps it
 * redoes appear once and TensorBoard draws one unbroken curve.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { decodeEvent, fileVersionEvent, type DecodedEvent } from './events.js';
import { frameRecord, readRecords } from './records.js';

/** TensorBoard reads every file whose name contains "tfevents"; ours all start so. */
const PREFIX = 'events.out.tfevents.';

export function tensorBoardDir(runDir: string): string {
  return join(runDir, 'tb');
}

/** The event files of a folder, oldest first. */
export function eventFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((name) => name.startsWith(PREFIX)).sort();
}

/** Each event file's size in bytes: what a checkpoint records. */
export function eventFileSizes(dir: string): Record<string, number> {
  return Object.fromEntries(eventFiles(dir).map((name) => [name, statSync(join(dir, name)).size]));
}

/**
 * Brings the folder back to the sizes a checkpoint recorded: files begun
 * after it are removed, the others cut to their recorded size. Everything
 * removed was written after the checkpoint, which the resumed run writes again.
 */
export function cutEventFiles(dir: string, sizes: Readonly<Record<string, number>>): void {
  for (const name of eventFiles(dir)) {
    const path = join(dir, name);
    const size = sizes[name];
    if (size === undefined) rmSync(path, { force: true });
    else if (statSync(path).size > size) truncateSync(path, size);
  }
}

/** Every event of a file, in order; lengths and CRCs are checked. */
export function readEventFile(path: string): DecodedEvent[] {
  return readRecords(readFileSync(path)).map(decodeEvent);
}

/** Appends encoded events to a new file of its own in `dir`, which it creates. */
export class EventFileWriter {
  readonly path: string;

  constructor(dir: string, options: { now?: () => number; host?: string } = {}) {
    mkdirSync(dir, { recursive: true });
    const now = options.now ?? (() => Date.now() / 1000);
    const base = `${PREFIX}${String(Math.floor(now())).padStart(10, '0')}.${(options.host ?? hostname()).replace(/[^A-Za-z0-9._-]/g, '_')}`;
    // A second process in the same second (a quick resume) gets base.1, base.2, ...: they sort after base.
    let name = base;
    for (let n = 1; existsSync(join(dir, name)); n++) name = `${base}.${n}`;
    this.path = join(dir, name);
    this.write(fileVersionEvent(now()));
  }

  /** One encoded Event as one record, on disk when this returns. */
  write(event: Uint8Array): void {
    appendFileSync(this.path, frameRecord(event));
  }
}

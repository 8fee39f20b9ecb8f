// status.json of a run directory: the run's state and counters, written by
// the training loop at every log window and when it stops, read by the
// sweeps and the report. One type and one reader for all of them.
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from './fs-atomic.js';

export const runStates = ['running', 'finished', 'interrupted', 'failed'] as const;
export type RunState = (typeof runStates)[number];

// train always writes updatedAt and wallClockSeconds; the reader does not
// require them, so a status.json written by hand or by another tool still
// tells its state.
const runStatusSchema = z.object({
  state: z.enum(runStates),
  agentStep: z.number().nonnegative(),
  envStep: z.number().nonnegative(),
  reason: z.string().optional(),
  updatedAt: z.string().optional(),
  wallClockSeconds: z.number().nonnegative().optional(),
});
export type RunStatus = z.infer<typeof runStatusSchema>;

/** What the loop reports; writeStatus stamps updatedAt. */
export type RunStatusUpdate = Omit<RunStatus, 'updatedAt' | 'wallClockSeconds'> & { wallClockSeconds: number };

/**
 * status.json is replaced atomically; when that fails on a full disk (no room
 * for the temp file) it is rewritten in place, where its one block already
 * is, so a run that stops for lack of space can still say so.
 */
export function writeStatus(dir: string, status: RunStatusUpdate): void {
  const path = join(dir, 'status.json');
  const text = `${JSON.stringify({ ...status, updatedAt: new Date().toISOString() }, null, 2)}\n`;
  try {
    writeJsonAtomic(path, JSON.parse(text));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code !== 'ENOSPC' && code !== 'EDQUOT') || !rewriteInPlace(path, text)) throw error;
  }
}

function rewriteInPlace(path: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    return false;
  }
  try {
    // Padded with spaces (still valid JSON) rather than truncated, so the write needs no new block.
    const bytes = Buffer.from(text.padEnd(fstatSync(fd).size, ' '), 'utf8');
    writeSync(fd, bytes, 0, bytes.length, 0);
    fsyncSync(fd);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/**
 * The run's status, or undefined when status.json is missing (a run that
 * never started), unreadable or not a status: a reader (a report, a sweep
 * deciding what to resume) goes on with the other runs instead of failing.
 */
export function readStatus(dir: string): RunStatus | undefined {
  const path = join(dir, 'status.json');
  if (!existsSync(path)) return undefined;
  try {
    const parsed = runStatusSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

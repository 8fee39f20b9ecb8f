import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import msgpack from 'msgpack-lite';
import { writeFileAtomic } from '../run/fs-atomic.js';

/**
 * Checkpoints are directories `checkpoints/ckpt-<agentStep>/` holding
 * agent.msgpack (weights, optimizer slots, agent RNG), replay.msgpack (the
 * buffer, streamed by the replay module) and loop.msgpack (counters, RNG
 * states, env snapshot, metrics log offset). A checkpoint is assembled in a
 * temp directory and renamed into place, then `checkpoints/latest` is
 * replaced atomically: a crash at any moment leaves the previous one usable.
 */
export interface CheckpointWriter {
  writeAgent(path: string): Promise<void>;
  writeReplay(path: string): Promise<void>;
  loopState(): unknown;
}

export const checkpointFiles = { agent: 'agent.msgpack', replay: 'replay.msgpack', loop: 'loop.msgpack' } as const;

export function checkpointsDir(runDir: string): string {
  return join(runDir, 'checkpoints');
}

export async function writeCheckpoint(runDir: string, agentStep: number, writer: CheckpointWriter, keep: number): Promise<string> {
  const root = checkpointsDir(runDir);
  mkdirSync(root, { recursive: true });
  const name = `ckpt-${String(agentStep).padStart(9, '0')}`;
  const finalDir = join(root, name);
  const tmpDir = join(root, `.${name}.tmp-${process.pid}`);
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir);
  try {
    await writer.writeAgent(join(tmpDir, checkpointFiles.agent));
    await writer.writeReplay(join(tmpDir, checkpointFiles.replay));
    writeFileSync(join(tmpDir, checkpointFiles.loop), msgpack.encode(writer.loopState()));
  } catch (error) {
    // A kill cannot run this; the next checkpoint's pruning removes what a kill leaves.
    rmSync(tmpDir, { recursive: true, force: true });
    throw error;
  }
  // A checkpoint at the same step (e.g. the final one right after a periodic one) replaces it.
  if (existsSync(finalDir)) {
    const old = join(root, `.${name}.old-${process.pid}`);
    renameSync(finalDir, old);
    renameSync(tmpDir, finalDir);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmpDir, finalDir);
  }
  writeFileAtomic(join(root, 'latest'), `${name}\n`);
  pruneCheckpoints(root, keep, name);
  return finalDir;
}

function listCheckpoints(root: string): string[] {
  return existsSync(root) ? readdirSync(root).filter((n) => /^ckpt-\d+$/.test(n)).sort() : [];
}

function pruneCheckpoints(root: string, keep: number, latest: string): void {
  const names = listCheckpoints(root).filter((n) => n !== latest);
  const excess = names.length - (keep - 1);
  for (const name of names.slice(0, Math.max(0, excess))) rmSync(join(root, name), { recursive: true, force: true });
  // Leftovers of a checkpoint interrupted by a crash or kill.
  for (const entry of readdirSync(root)) if (entry.startsWith('.ckpt-')) rmSync(join(root, entry), { recursive: true, force: true });
}

/** The newest complete checkpoint directory, or null when the run has none. */
export function latestCheckpoint(runDir: string): string | null {
  const root = checkpointsDir(runDir);
  const pointer = join(root, 'latest');
  if (existsSync(pointer)) {
    const name = readFileSync(pointer, 'utf8').trim();
    if (/^ckpt-\d+$/.test(name) && existsSync(join(root, name, checkpointFiles.loop))) return join(root, name);
  }
  const complete = listCheckpoints(root).filter((n) => existsSync(join(root, n, checkpointFiles.loop)));
  const last = complete[complete.length - 1];
  return last ? join(root, last) : null;
}

export function readLoopState<T>(checkpointDir: string): T {
  return msgpack.decode(readFileSync(join(checkpointDir, checkpointFiles.loop))) as T;
}

export function writeMsgpackFile(path: string, value: unknown): void {
  writeFileSync(path, msgpack.encode(value));
}

export function readMsgpackFile<T>(path: string): T {
  return msgpack.decode(readFileSync(path)) as T;
}

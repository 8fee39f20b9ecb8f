/*
 * Checkpoints are directories `checkpoints/ckpt-<agentStep>/` holding
 * agent.msgpack (weights, optimizer slots, agent RNG), replay.msgpack (the
 * buffer, streamed by the replay module) and loop.msgpack (counters, RNG
 * states, env snapshot, metrics log offset). A checkpoint is assembled in a
 * temp directory and renamed into place, then `checkpoints/latest` is
 * replaced atomically: a crash at any moment leaves the previous one usable.
 * agent.msgpack and loop.msgpack carry a checksum (run/checked-file.ts), the
 * replay file one per chunk, so a damaged checkpoint is refused, never loaded.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import msgpack from 'msgpack-lite';
import { DamagedFileError, readCheckedFile, writeCheckedFile } from '../run/checked-file.js';
import { writeFileAtomic } from '../run/fs-atomic.js';

export interface CheckpointWriter {
  writeAgent(path: string): Promise<void>;
  writeReplay(path: string): Promise<void>;
  loopState(): unknown;
}

export const checkpointFiles = { agent: 'agent.msgpack', replay: 'replay.msgpack', loop: 'loop.msgpack' } as const;

export function checkpointsDir(runDir: string): string {
  return join(runDir, 'checkpoints');
}

function checkpointName(agentStep: number): string {
  return `ckpt-${String(agentStep).padStart(9, '0')}`;
}

/** Where the checkpoint of this agent step is (or will be) stored. */
export function checkpointDirFor(runDir: string, agentStep: number): string {
  return join(checkpointsDir(runDir), checkpointName(agentStep));
}

export async function writeCheckpoint(runDir: string, agentStep: number, writer: CheckpointWriter, keep: number): Promise<string> {
  const root = checkpointsDir(runDir);
  mkdirSync(root, { recursive: true });
  const name = checkpointName(agentStep);
  const finalDir = join(root, name);
  const tmpDir = join(root, `.${name}.tmp-${process.pid}`);
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir);
  try {
    await writer.writeAgent(join(tmpDir, checkpointFiles.agent));
    await writer.writeReplay(join(tmpDir, checkpointFiles.replay));
    writeMsgpackFile(join(tmpDir, checkpointFiles.loop), writer.loopState());
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
  // The renames above live in the directory's own data: without this a power cut could forget them.
  fsyncDir(root);
  pruneCheckpoints(root, keep, name);
  return finalDir;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
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

/** The newest complete checkpoint directory (not checked for damage), or null when the run has none. */
export function latestCheckpoint(runDir: string): string | null {
  return checkpointCandidates(runDir)[0] ?? null;
}

/**
 * Complete checkpoints, the one `latest` names first, then the others newest
 * first: the order a resume tries them in when one turns out to be damaged.
 * With `incomplete`, also the checkpoint folders that lack loop.msgpack (an
 * emptied folder: a rename makes every checkpoint whole, so only damage leaves
 * one), for a resume to name as damaged and fall back from rather than skip.
 */
export function checkpointCandidates(runDir: string, options: { incomplete?: boolean } = {}): string[] {
  const root = checkpointsDir(runDir);
  const names = listCheckpoints(root);
  const candidates = (options.incomplete ? names : names.filter((n) => existsSync(join(root, n, checkpointFiles.loop)))).reverse();
  const pointer = join(root, 'latest');
  if (existsSync(pointer)) {
    const name = readFileSync(pointer, 'utf8').trim();
    if (candidates.includes(name)) return [name, ...candidates.filter((n) => n !== name)].map((n) => join(root, n));
  }
  return candidates.map((n) => join(root, n));
}

/** A damaged checkpoint is kept for inspection under a name no resume or pruning looks at. */
export function setAsideDamaged(checkpointDir: string): string | null {
  const root = join(checkpointDir, '..');
  const name = checkpointDir.slice(root.length + 1);
  const aside = join(root, `damaged-${name}-${Date.now()}`);
  try {
    renameSync(checkpointDir, aside);
    return aside;
  } catch {
    return null;
  }
}

export function readLoopState<T>(checkpointDir: string): T {
  return readMsgpackFile<T>(join(checkpointDir, checkpointFiles.loop));
}

export function writeMsgpackFile(path: string, value: unknown): void {
  writeCheckedFile(path, msgpack.encode(value));
}

/** Decodes a checksummed msgpack file; any damage (including a decoder failure) is a DamagedFileError. */
export function readMsgpackFile<T>(path: string): T {
  const { payload } = readCheckedFile(path);
  try {
    return msgpack.decode(payload) as T;
  } catch (error) {
    throw new DamagedFileError(path, `its contents cannot be decoded (${(error as Error).message})`, { cause: error });
  }
}

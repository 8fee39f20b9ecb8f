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
import { CurlRlError } from '../core/errors.js';
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
 */
export function checkpointCandidates(runDir: string): string[] {
  const root = checkpointsDir(runDir);
  const complete = listCheckpoints(root).filter((n) => existsSync(join(root, n, checkpointFiles.loop))).reverse();
  const pointer = join(root, 'latest');
  if (existsSync(pointer)) {
    const name = readFileSync(pointer, 'utf8').trim();
    if (complete.includes(name)) return [name, ...complete.filter((n) => n !== name)].map((n) => join(root, n));
  }
  return complete.map((n) => join(root, n));
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
  return readCheckpointFile(path, (value) => value as T);
}

/**
 * Reads a checkpoint file and hands its decoded value to `parse`, which
 * checks its structure and returns it typed. Anything wrong is a
 * DamagedFileError saying what: the checksum (run/checked-file.ts), a payload
 * that is not exactly one msgpack value, or what `parse` threw. A file with no
 * checksum header is taken for one written before checksums existed only when
 * it passes all of that as well; it says so when it does not. A CurlRlError
 * from `parse` (a state from an incompatible version) is passed on as it is.
 */
export function readCheckpointFile<T>(path: string, parse: (value: unknown) => T): T {
  const { payload, unchecked } = readCheckedFile(path);
  const legacy = unchecked ? 'it has no checksum header, and as a file of the older format without one ' : '';
  let value: unknown;
  try {
    value = decodeWhole(payload);
  } catch (error) {
    throw new DamagedFileError(path, `${legacy}its contents cannot be decoded (${(error as Error).message})`, { cause: error });
  }
  try {
    return parse(value);
  } catch (error) {
    if (error instanceof CurlRlError) throw error;
    throw new DamagedFileError(path, `${legacy}${(error as Error).message}`, { cause: error });
  }
}

/** The one msgpack value `bytes` holds; bytes left over, or a value cut off, are an error (msgpack.decode ignores both). */
function decodeWhole(bytes: Buffer): unknown {
  const decoder = msgpack.Decoder();
  // where the decoder stands after a value (a field of msgpack-lite's FlexDecoder, which its types leave out)
  const position = (): number => (decoder as unknown as { offset: number }).offset;
  let first: { value: unknown; end: number } | undefined;
  decoder.on('data', (value: unknown) => {
    first ??= { value, end: position() };
  });
  decoder.decode(bytes);
  if (!first) throw new Error(`its ${bytes.length} bytes end inside the first value`);
  if (first.end !== bytes.length) throw new Error(`${bytes.length - first.end} bytes follow its value`);
  return first.value;
}

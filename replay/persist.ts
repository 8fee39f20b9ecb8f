/*
 * On-disk replay format: a sequence of msgpack-lite records, each small
 * enough (CHUNK_BYTES of payload) that neither writing nor reading ever holds
 * more than one chunk, whatever the buffer's size.
 *
 *   header  { kind: 'curl-rl-replay', version, capacity, frameShape, actionDim, frameStack,
 *             written, stepsInWindow, episodeOpen, liveSlots }
 *   array   { kind: 'array', name, offset, bytes, crc }   epStart, action, reward, flags (slots 0..liveSlots-1)
 *   frames  { kind: 'frames', slot, count, bytes, crc }   frame slots 0..liveSlots-1 in order
 *   end     { kind: 'end', records }
 *
 * Payloads are the raw little-endian bytes of the typed arrays; each carries
 * its CRC-32 so a flipped byte is caught, and a missing `end` record means
 * the file was cut short.
 */
import { createReadStream, statSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import msgpack from 'msgpack-lite';
import { ReplayFileError } from './errors.js';
import type { FrameStore } from './frame-store.js';

export const FORMAT_KIND = 'curl-rl-replay';
export const FORMAT_VERSION = 1;
export const CHUNK_BYTES = 4 * 2 ** 20;

/** Everything a replay buffer persists, by reference: reading fills these arrays in place. */
export interface ReplayContents {
  capacity: number;
  frameShape: readonly [number, number, number];
  actionDim: number;
  frameStack: number;
  written: number;
  stepsInWindow: number;
  episodeOpen: boolean;
  frames: FrameStore;
  epStart: Float64Array;
  action: Float32Array;
  reward: Float32Array;
  flags: Uint8Array;
}

export interface ReplayHeader {
  written: number;
  stepsInWindow: number;
  episodeOpen: boolean;
  liveSlots: number;
}

type ArrayName = 'epStart' | 'action' | 'reward' | 'flags';
const ARRAY_NAMES: readonly ArrayName[] = ['epStart', 'action', 'reward', 'flags'];

function bytesOf(a: Float64Array | Float32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Bytes of `name` covering slots [0, liveSlots). */
function liveBytes(c: ReplayContents, name: ArrayName, liveSlots: number): Uint8Array {
  const perSlot = name === 'action' ? c.actionDim : 1;
  const array = c[name];
  return bytesOf(array.subarray(0, liveSlots * perSlot));
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** Writes the buffer to `path` atomically: a temp file beside it, fsync, rename. */
export async function writeReplayFile(path: string, c: ReplayContents): Promise<void> {
  const liveSlots = Math.min(c.written, c.capacity);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(tmp, 'w');
  } catch (error) {
    throw new ReplayFileError(path, `cannot create the temp file ${tmp}: ${(error as Error).message}`, { cause: error });
  }
  const out = handle;
  try {
    let records = 0;
    const put = async (record: Record<string, unknown>): Promise<void> => {
      await out.write(msgpack.encode(record));
    };
    await put({
      kind: FORMAT_KIND,
      version: FORMAT_VERSION,
      littleEndian: true,
      capacity: c.capacity,
      frameShape: [...c.frameShape],
      actionDim: c.actionDim,
      frameStack: c.frameStack,
      written: c.written,
      stepsInWindow: c.stepsInWindow,
      episodeOpen: c.episodeOpen,
      liveSlots,
    });
    for (const name of ARRAY_NAMES) {
      const all = liveBytes(c, name, liveSlots);
      for (let offset = 0; offset < all.length; offset += CHUNK_BYTES) {
        const bytes = all.subarray(offset, Math.min(all.length, offset + CHUNK_BYTES));
        await put({ kind: 'array', name, offset, bytes: asBuffer(bytes), crc: crc32(bytes) });
        records++;
      }
    }
    for (const piece of c.frames.ranges(0, liveSlots, CHUNK_BYTES)) {
      await put({ kind: 'frames', slot: piece.slot, count: piece.count, bytes: asBuffer(piece.bytes), crc: crc32(piece.bytes) });
      records++;
    }
    await put({ kind: 'end', records });
    await out.sync();
    await out.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    if (error instanceof ReplayFileError) throw error;
    throw new ReplayFileError(path, `write failed: ${(error as Error).message}`, { cause: error });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Problems found in the file; the message is the `problem` of a ReplayFileError. */
class FormatProblem extends Error {}

function checkHeader(h: unknown, c: ReplayContents): ReplayHeader {
  if (!isRecord(h) || h.kind !== FORMAT_KIND) throw new FormatProblem(`not a curl-rl replay file (first record is not a '${FORMAT_KIND}' header)`);
  if (h.version !== FORMAT_VERSION) throw new FormatProblem(`format version ${String(h.version)} is not supported (expected ${FORMAT_VERSION})`);
  if (h.littleEndian !== true) throw new FormatProblem('the file was written on a big-endian machine; only little-endian files are supported');
  const shape = Array.isArray(h.frameShape) ? h.frameShape.join('x') : String(h.frameShape);
  const mismatches: string[] = [];
  if (h.capacity !== c.capacity) mismatches.push(`capacity ${String(h.capacity)} (buffer: ${c.capacity})`);
  if (shape !== c.frameShape.join('x')) mismatches.push(`frameShape ${shape} (buffer: ${c.frameShape.join('x')})`);
  if (h.actionDim !== c.actionDim) mismatches.push(`actionDim ${String(h.actionDim)} (buffer: ${c.actionDim})`);
  if (h.frameStack !== c.frameStack) mismatches.push(`frameStack ${String(h.frameStack)} (buffer: ${c.frameStack})`);
  if (mismatches.length > 0) {
    throw new FormatProblem(`saved with a different layout: ${mismatches.join(', ')}; load it into a buffer built with the same options`);
  }
  const { written, stepsInWindow, episodeOpen, liveSlots } = h;
  if (!isCount(written) || !isCount(stepsInWindow) || typeof episodeOpen !== 'boolean' || !isCount(liveSlots)) {
    throw new FormatProblem('header fields written/stepsInWindow/episodeOpen/liveSlots are missing or malformed');
  }
  if (liveSlots !== Math.min(written, c.capacity) || stepsInWindow > liveSlots) {
    throw new FormatProblem(`inconsistent header: written ${written}, liveSlots ${liveSlots}, stepsInWindow ${stepsInWindow}, capacity ${c.capacity}`);
  }
  return { written, stepsInWindow, episodeOpen, liveSlots };
}

/**
 * Walks the file's records, checking order, coverage and checksums; with
 * `copy`, also writes each payload into `c`'s arrays.
 */
async function walk(path: string, c: ReplayContents, copy: boolean): Promise<ReplayHeader> {
  const source = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  const decoder = msgpack.createDecodeStream();
  source.on('error', (error) => decoder.destroy(error));
  source.pipe(decoder);
  let header: ReplayHeader | undefined;
  const expected = new Map<ArrayName, { next: number; total: number; target: Uint8Array }>();
  let nextSlot = 0;
  let records = 0;
  let ended = false;
  try {
    for await (const record of decoder as AsyncIterable<unknown>) {
      if (ended) throw new FormatProblem('unexpected data after the end record');
      if (!header) {
        header = checkHeader(record, c);
        for (const name of ARRAY_NAMES) {
          const target = liveBytes(c, name, header.liveSlots);
          expected.set(name, { next: 0, total: target.length, target });
        }
        continue;
      }
      if (!isRecord(record)) throw new FormatProblem(`record ${records + 1} is not a map`);
      if (record.kind === 'end') {
        if (record.records !== records) throw new FormatProblem(`end record counts ${String(record.records)} data records, found ${records}`);
        for (const [name, e] of expected) {
          if (e.next !== e.total) throw new FormatProblem(`array ${name} is incomplete: ${e.next} of ${e.total} bytes`);
        }
        if (nextSlot !== header.liveSlots) throw new FormatProblem(`frames are incomplete: ${nextSlot} of ${header.liveSlots} slots`);
        ended = true;
        continue;
      }
      const bytes = record.bytes;
      if (!(bytes instanceof Uint8Array)) throw new FormatProblem(`record ${records + 1} (${String(record.kind)}) has no byte payload`);
      if (crc32(bytes) !== record.crc) throw new FormatProblem(`checksum mismatch in record ${records + 1} (${String(record.kind)}): the file is corrupted`);
      if (record.kind === 'array') {
        const e = expected.get(record.name as ArrayName);
        if (!e) throw new FormatProblem(`record ${records + 1} names an unknown array ${String(record.name)}`);
        if (record.offset !== e.next || e.next + bytes.length > e.total) {
          throw new FormatProblem(`array ${String(record.name)} chunk at byte ${String(record.offset)} (${bytes.length} bytes) is out of order or overruns ${e.total} bytes`);
        }
        if (copy) e.target.set(bytes, e.next);
        e.next += bytes.length;
      } else if (record.kind === 'frames') {
        const count = record.count;
        if (record.slot !== nextSlot || !isCount(count) || count === 0 || nextSlot + count > header.liveSlots || bytes.length !== count * c.frames.frameBytes) {
          throw new FormatProblem(`frames chunk at slot ${String(record.slot)} (${String(count)} frames, ${bytes.length} bytes) is out of order or malformed`);
        }
        if (copy) {
          for (let i = 0; i < count; i++) c.frames.write(nextSlot + i, bytes.subarray(i * c.frames.frameBytes, (i + 1) * c.frames.frameBytes));
        }
        nextSlot += count;
      } else {
        throw new FormatProblem(`record ${records + 1} has unknown kind ${String(record.kind)}`);
      }
      records++;
    }
  } finally {
    source.destroy();
  }
  if (!header) {
    throw new FormatProblem(statSync(path).size === 0 ? 'the file is empty' : 'the file is truncated or not a replay file (no complete header record)');
  }
  if (!ended) throw new FormatProblem('the file is truncated (no end record)');
  return header;
}

/**
 * Reads `path` into `c`'s arrays and returns the header state to adopt. The
 * file is checked completely before anything is copied, so on any problem the
 * buffer is untouched. Only if the file changes between the check and the
 * copy is the buffer left partly written; then `onPartialCopy` runs (the
 * buffer empties itself) before the error is thrown.
 */
export async function readReplayFile(path: string, c: ReplayContents, onPartialCopy: () => void): Promise<ReplayHeader> {
  try {
    await walk(path, c, false);
  } catch (error) {
    throw toFileError(path, error);
  }
  try {
    return await walk(path, c, true);
  } catch (error) {
    onPartialCopy();
    const e = toFileError(path, error);
    throw new ReplayFileError(path, `${e.problem} (the file changed while loading; the buffer was emptied)`, { cause: error });
  }
}

function toFileError(path: string, error: unknown): ReplayFileError {
  if (error instanceof ReplayFileError) return error;
  if (error instanceof FormatProblem) return new ReplayFileError(path, error.message);
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new ReplayFileError(path, 'no such file', { cause: error });
  return new ReplayFileError(path, `unreadable (${(error as Error).message}); the file is corrupted or not a replay file`, { cause: error });
}

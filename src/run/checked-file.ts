/*
 * Files whose damage must be caught, not loaded: a flipped byte in a weight
 * loads as a different number and trains on silently. Layout (little-endian):
 *
 *   magic "CURLRLCK" (8) | format version u32 | CRC-32 of payload u32 | payload length u64 | payload
 *
 * A file cut short, grown, or with any byte changed fails the check with a
 * message saying which.
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { CurlRlError } from '../core/errors.js';

const MAGIC = Buffer.from('CURLRLCK', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 24;

/** A checkpoint file is missing, cut short, or its contents do not match its checksum. */
export class DamagedFileError extends CurlRlError {
  readonly file: string;
  readonly problem: string;
  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file} is damaged: ${problem}`, options);
    this.file = file;
    this.problem = problem;
  }
}

/** Writes header and payload and fsyncs; callers write into a temp location and rename (checkpoints do). */
export function writeCheckedFile(path: string, payload: Uint8Array): void {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(VERSION, 8);
  header.writeUInt32LE(crc32(payload), 12);
  header.writeBigUInt64LE(BigInt(payload.byteLength), 16);
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, header);
    writeAll(fd, payload);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}

/** msgpack-lite starts every object we store with a map marker; files written before checksums existed start so. */
function isLegacyMsgpack(bytes: Buffer): boolean {
  const first = bytes[0];
  return first !== undefined && ((first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf);
}

export interface CheckedPayload {
  payload: Buffer;
  /** Written before this format existed: nothing to check it against. */
  unchecked: boolean;
}

/** Reads and verifies a file written by writeCheckedFile; throws DamagedFileError saying what is wrong. */
export function readCheckedFile(path: string): CheckedPayload {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DamagedFileError(path, code === 'ENOENT' ? 'the file is missing' : `cannot read it: ${(error as Error).message}`, { cause: error });
  }
  if (bytes.length === 0) throw new DamagedFileError(path, 'the file is empty');
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    if (isLegacyMsgpack(bytes)) return { payload: bytes, unchecked: true };
    throw new DamagedFileError(path, 'it does not start with a curl-rl checksum header');
  }
  if (bytes.length < HEADER_BYTES) throw new DamagedFileError(path, `it is cut short inside its header (${bytes.length} of ${HEADER_BYTES} bytes)`);
  const version = bytes.readUInt32LE(8);
  if (version !== VERSION) throw new DamagedFileError(path, `its format version is ${version}; this program reads version ${VERSION}`);
  const stored = bytes.readUInt32LE(12);
  const length = bytes.readBigUInt64LE(16);
  const actual = BigInt(bytes.length - HEADER_BYTES);
  if (actual < length) throw new DamagedFileError(path, `it is cut short: ${actual} of ${length} payload bytes`);
  if (actual > length) throw new DamagedFileError(path, `it has ${actual - length} bytes more than the ${length} its header announces`);
  const payload = bytes.subarray(HEADER_BYTES);
  const computed = crc32(payload);
  if (computed !== stored) {
    throw new DamagedFileError(path, `its checksum does not match (stored ${hex(stored)}, contents ${hex(computed)}): some bytes were changed`);
  }
  return { payload, unchecked: false };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

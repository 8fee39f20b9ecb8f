/*
 * The framing of TensorBoard event files (TFRecord): each record is
 *   uint64 length (little-endian), uint32 masked CRC-32C of those 8 bytes,
 *   the data, uint32 masked CRC-32C of the data,
 * where mask(c) = ((c >>> 15) | (c << 17)) + 0xa282ead8 (mod 2^32), as in
 * TensorFlow's tensorflow/tsl/lib/hash/crc32c.h and TensorBoard's
 * tensorboard/summary/writer/record_writer.py. The CRC-32C (Castagnoli) is
 * SheetJS's crc-32 package, not ours.
 */
import crc32c from 'crc-32/crc32c.js';

const MASK_DELTA = 0xa282ead8;

/** CRC-32C of the bytes, unsigned. */
export function crc32cOf(bytes: Uint8Array): number {
  return crc32c.buf(bytes) >>> 0;
}

/** TFRecord's masked CRC: a CRC stored next to data that is itself CRC'd stays distinguishable from it. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32cOf(bytes);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/** One record: header, data and footer, ready to append. */
export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

/** Thrown for bytes that are not whole, intact records. */
export class RecordError extends Error {
  constructor(
    readonly offset: number,
    readonly problem: string,
  ) {
    super(`event record at byte ${offset}: ${problem}`);
    this.name = 'RecordError';
  }
}

/** The records' data in order; every length and CRC is checked, and a record cut short is an error. */
export function readRecords(bytes: Uint8Array): Uint8Array[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: Uint8Array[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    if (offset + 12 > buffer.length) throw new RecordError(offset, `header cut short (${buffer.length - offset} of 12 bytes)`);
    if (buffer.readUInt32LE(offset + 8) !== maskedCrc32c(buffer.subarray(offset, offset + 8))) throw new RecordError(offset, 'length CRC mismatch');
    const length = buffer.readBigUInt64LE(offset);
    const end = BigInt(offset) + 12n + length + 4n;
    if (end > BigInt(buffer.length)) throw new RecordError(offset, `data cut short (record of ${length} bytes)`);
    const data = buffer.subarray(offset + 12, offset + 12 + Number(length));
    if (buffer.readUInt32LE(offset + 12 + data.length) !== maskedCrc32c(data)) throw new RecordError(offset, 'data CRC mismatch');
    records.push(data);
    offset = Number(end);
  }
  return records;
}

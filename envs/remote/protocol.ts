import { deflateSync, inflateSync } from 'node:zlib';
import type { BoxSpace, DType, DiscreteSpace, Observation, Space } from '../types.js';
import { RemoteProtocolError } from './errors.js';

/** Bumped on any incompatible change to PROTOCOL.md; both sides must agree exactly. */
export const PROTOCOL_VERSION = 1;

/** An n-d array on the wire: raw little-endian C-order bytes plus dtype and shape. */
export interface WireArray {
  dtype: DType;
  shape: number[];
  data: Buffer;
  /** How `data` is encoded; absent means raw bytes. */
  encoding?: ArrayEncoding;
}

/**
 * Array encodings a client can accept (sent in the `spec` request as
 * `accept_encoding`). `zlib`: `data` is the raw bytes compressed with zlib
 * (RFC 1950, as Python's zlib.compress writes it). Rendered frames are mostly
 * flat colour, so 30 KB become a few KB: fewer 4 KB pty wake-ups per step.
 */
export const ARRAY_ENCODINGS = ['zlib'] as const;
export type ArrayEncoding = (typeof ARRAY_ENCODINGS)[number];

/** Arrays smaller than this cross raw: a pty moves them in one wake-up anyway. */
export const COMPRESS_MIN_BYTES = 4096;

/**
 * Compresses arrays for a peer that accepts zlib, when it pays: level 1
 * (fast), and only if the result is under 90% of the raw size. Incompressible
 * data (noise) costs ~0.4 ms to try on 30 KB, so after a miss the next
 * 1, 2, 4 ... 64 arrays are sent raw without trying. The Python bridge does
 * the same (bridge.py, Compressor).
 */
export class ArrayCompressor {
  private skip = 0;
  private backoff = 1;

  encode(array: WireArray): WireArray {
    if (array.encoding !== undefined || array.data.byteLength < COMPRESS_MIN_BYTES) return array;
    if (this.skip > 0) {
      this.skip--;
      return array;
    }
    const packed = deflateSync(array.data, { level: 1 });
    if (packed.byteLength < 0.9 * array.data.byteLength) {
      this.backoff = 1;
      return { ...array, data: packed, encoding: 'zlib' };
    }
    this.skip = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 64);
    return array;
  }
}

const BYTES_PER: Record<DType, number> = { uint8: 1, int32: 4, float32: 4, float64: 8 };

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(BYTES_PER, value);
}

export function encodeArray(array: Observation, shape: readonly number[]): WireArray {
  const dtype: DType =
    array instanceof Uint8Array ? 'uint8' : array instanceof Float32Array ? 'float32' : array instanceof Float64Array ? 'float64' : 'int32';
  return { dtype, shape: [...shape], data: Buffer.from(array.buffer, array.byteOffset, array.byteLength) };
}

/**
 * Decodes a wire array into a fresh, aligned typed array (the decoded bytes
 * may sit at any offset inside a larger receive buffer, and the env must own
 * its observation). Byte order is little-endian, as on every platform we run.
 */
export function decodeArray(value: unknown, what: string): { array: Observation; dtype: DType; shape: number[] } {
  if (typeof value !== 'object' || value === null) throw new RemoteProtocolError(`${what}: expected an array map {dtype, shape, data}, got ${describe(value)}`);
  const { dtype, shape, data } = value as { dtype?: unknown; shape?: unknown; data?: unknown };
  if (!isDType(dtype)) throw new RemoteProtocolError(`${what}: dtype must be one of ${Object.keys(BYTES_PER).join(', ')}, got ${describe(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
    throw new RemoteProtocolError(`${what}: shape must be a list of non-negative integers, got ${describe(shape)}`);
  }
  if (!(data instanceof Uint8Array)) throw new RemoteProtocolError(`${what}: data must be msgpack bin (raw bytes), got ${describe(data)}`);
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  const bytes = count * BYTES_PER[dtype];
  const encoding = (value as { encoding?: unknown }).encoding;
  let copy: Uint8Array;
  if (encoding === undefined || encoding === null) {
    if (data.byteLength !== bytes) {
      throw new RemoteProtocolError(`${what}: ${dtype} array of shape [${shape.join(', ')}] needs ${bytes} bytes, got ${data.byteLength}`);
    }
    // A plain Uint8Array over memory of its own, left unzeroed: every byte is overwritten at once.
    copy = new Uint8Array(Buffer.allocUnsafeSlow(bytes).buffer, 0, bytes);
    copy.set(data);
  } else if (encoding === 'zlib') {
    copy = inflate(data, bytes, `${what} (${dtype} [${shape.join(', ')}])`);
  } else {
    throw new RemoteProtocolError(
      `${what}: unknown array encoding ${describe(encoding)}; this client accepts ${ARRAY_ENCODINGS.join(', ')} or raw bytes (no encoding field). ` +
        'A server may only use an encoding the client listed in accept_encoding.',
    );
  }
  const array: Observation =
    dtype === 'uint8'
      ? copy
      : dtype === 'float32'
        ? new Float32Array(copy.buffer, copy.byteOffset, count)
        : dtype === 'float64'
          ? new Float64Array(copy.buffer, copy.byteOffset, count)
          : new Int32Array(copy.buffer, copy.byteOffset, count);
  return { array, dtype, shape: shape as number[] };
}

/**
 * Inflates into a fresh array the caller owns, aligned at offset 0. The output
 * chunk is one byte larger than the array, so zlib finishes in one call with no
 * second chunk and no concatenation (with the default 16 KB chunks a 30 KB
 * frame took over twice as long); the spare byte stays unused at the end of
 * the observation's ArrayBuffer. Only up to a size: the chunk is allocated
 * before zlib has seen the data, which may inflate to far less.
 */
const INFLATE_ONE_CHUNK_MAX_BYTES = 64 * 1024 * 1024;
function inflate(data: Uint8Array, bytes: number, what: string): Uint8Array {
  let out: Buffer;
  try {
    const chunkSize = bytes < INFLATE_ONE_CHUNK_MAX_BYTES ? Math.max(bytes + 1, 64) : undefined;
    out = inflateSync(data, { chunkSize, maxOutputLength: Math.max(bytes, 1) });
  } catch (error) {
    throw new RemoteProtocolError(`${what}: zlib data does not inflate to ${bytes} bytes (${(error as Error).message})`);
  }
  if (out.byteLength !== bytes) throw new RemoteProtocolError(`${what}: zlib data inflates to ${out.byteLength} bytes, the shape needs ${bytes}`);
  // Small outputs come from Buffer's shared pool: copy those out.
  const own = out.byteOffset === 0 && out.buffer.byteLength <= bytes + 1;
  return own ? new Uint8Array(out.buffer, 0, bytes) : new Uint8Array(out);
}

function bound(value: unknown, what: string, size: number): number | Float64Array {
  if (typeof value === 'number') return value;
  const { array } = decodeArray(value, what);
  if (array.length !== size) throw new RemoteProtocolError(`${what}: expected ${size} bounds (one per element), got ${array.length}`);
  return Float64Array.from(array);
}

/** Parses a space from the `spec` message into the env contract's types. */
export function parseSpace(value: unknown, what: string): Space {
  if (typeof value !== 'object' || value === null) throw new RemoteProtocolError(`${what}: expected a space map, got ${describe(value)}`);
  const v = value as Record<string, unknown>;
  if (v.kind === 'discrete') {
    if (!Number.isInteger(v.n) || (v.n as number) < 1) throw new RemoteProtocolError(`${what}: discrete n must be an integer >= 1, got ${describe(v.n)}`);
    return { kind: 'discrete', n: v.n as number } satisfies DiscreteSpace;
  }
  if (v.kind === 'box') {
    if (!isDType(v.dtype)) throw new RemoteProtocolError(`${what}: box dtype must be one of ${Object.keys(BYTES_PER).join(', ')}, got ${describe(v.dtype)}`);
    if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isInteger(d) && (d as number) >= 1)) {
      throw new RemoteProtocolError(`${what}: box shape must be a list of positive integers, got ${describe(v.shape)}`);
    }
    const shape = v.shape as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    return { kind: 'box', shape, dtype: v.dtype, low: bound(v.low, `${what}.low`, size), high: bound(v.high, `${what}.high`, size) } satisfies BoxSpace;
  }
  throw new RemoteProtocolError(`${what}: kind must be 'box' or 'discrete', got ${describe(v.kind)}`);
}

/** A space as plain JSON (for `curl-rl envs --remote-cmd ... --json`). */
export function spaceToJson(space: Space): Record<string, unknown> {
  if (space.kind === 'discrete') return { kind: 'discrete', n: space.n };
  const b = (x: number | Float64Array): number | number[] => (typeof x === 'number' ? x : Array.from(x));
  return { kind: 'box', shape: [...space.shape], dtype: space.dtype, low: b(space.low), high: b(space.high) };
}

export function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  // JSON has no NaN or Infinity (it writes null), and those are what a simulation that blew up sends.
  if (typeof value === 'number') return String(value);
  try {
    const s = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `\u0000${v}` : v))?.replace(
      /"\\u0000(NaN|-?Infinity)"/g,
      '$1',
    );
    return s === undefined ? String(value) : s.length > 120 ? `${s.slice(0, 120)}…` : s;
  } catch {
    return String(value);
  }
}

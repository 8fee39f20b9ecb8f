/*
 * Framing (see PROTOCOL.md): every message is
 *   4 bytes magic "CRLP" | 4 bytes big-endian payload length | msgpack map.
 * The magic lets the reader reject garbage (a stray print, a crash banner) at
 * the first bad byte instead of waiting for a nonsensical length to arrive.
 */
import msgpack from 'msgpack-lite';
import { RemoteProtocolError } from './errors.js';

export const FRAME_MAGIC = Buffer.from('CRLP', 'latin1');
export const HEADER_BYTES = 8;
/** Larger than any sane observation; a bigger length means the stream is corrupt. */
export const MAX_PAYLOAD_BYTES = 256 * 1024 * 1024;

export type Message = { readonly type: string; readonly [key: string]: unknown };

export function encodeFrame(message: Message): Buffer {
  const payload = msgpack.encode(message);
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  FRAME_MAGIC.copy(header, 0);
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload], HEADER_BYTES + payload.length);
}

/** Printable preview of bytes for error messages: what did the process actually write? */
export function previewBytes(bytes: Uint8Array, max = 48): string {
  const head = Buffer.from(bytes.subarray(0, max));
  const text = head.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return `${JSON.stringify(text)} (hex ${head.toString('hex')}${bytes.length > max ? '…' : ''})`;
}

/**
 * Reassembles frames from arbitrary chunks (a pty delivers a few KB at a time).
 * Chunks are kept in a list and joined once per frame, so a 30 KB frame in 8
 * chunks costs one copy, not eight.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private expected = -1;

  /** Feeds bytes; returns every message completed by them, in order. Throws RemoteProtocolError on garbage. */
  push(chunk: Uint8Array): Message[] {
    if (chunk.length === 0) return [];
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.buffered += chunk.length;
    const out: Message[] = [];
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < HEADER_BYTES) {
          this.checkMagicPrefix();
          break;
        }
        const header = this.take(HEADER_BYTES);
        if (!header.subarray(0, 4).equals(FRAME_MAGIC)) {
          throw new RemoteProtocolError(`not a protocol frame: expected magic "CRLP", got ${previewBytes(Buffer.concat([header, ...this.chunks]))}`);
        }
        const length = header.readUInt32BE(4);
        if (length > MAX_PAYLOAD_BYTES) {
          throw new RemoteProtocolError(`frame length ${length} exceeds the limit of ${MAX_PAYLOAD_BYTES} bytes; the stream is corrupt`);
        }
        this.expected = length;
      }
      if (this.buffered < this.expected) break;
      const payload = this.take(this.expected);
      this.expected = -1;
      out.push(decodePayload(payload));
    }
    return out;
  }

  /** True when a frame has started but not finished (a process that dies here lost a message). */
  get midFrame(): boolean {
    return this.buffered > 0 || this.expected >= 0;
  }

  /** Fails early when even the first bytes cannot start a frame. */
  private checkMagicPrefix(): void {
    if (this.buffered === 0) return;
    const head = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const n = Math.min(head.length, 4);
    if (!head.subarray(0, n).equals(FRAME_MAGIC.subarray(0, n))) {
      throw new RemoteProtocolError(`not a protocol frame: expected magic "CRLP", got ${previewBytes(head)}`);
    }
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let result: Buffer;
    if (first.length >= n) {
      result = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      result = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - filled);
        c.copy(result, filled, 0, k);
        filled += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return result;
  }
}

function decodePayload(payload: Buffer): Message {
  let value: unknown;
  try {
    value = msgpack.decode(payload);
  } catch (error) {
    throw new RemoteProtocolError(`frame payload is not valid msgpack (${(error as Error).message}): ${previewBytes(payload)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
    throw new RemoteProtocolError(`a message must be a msgpack map with a string "type"; got ${previewBytes(payload)}`);
  }
  return value as Message;
}

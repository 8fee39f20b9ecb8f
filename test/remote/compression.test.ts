import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createRemoteEnv, RemoteEnv, RemoteProtocolError, testServerCommand } from '../../envs/remote/index.js';
import { encodeFrame, FrameDecoder } from '../../envs/remote/framing.js';
import { ArrayCompressor, decodeArray, encodeArray, type WireArray } from '../../envs/remote/protocol.js';
import { renderedFrame } from '../../envs/remote/test-pattern.js';
import { closedAfterEach, expectedFrame } from './helpers.js';

/** Through a real frame: encode, split, decode, as the client sees it. */
function overTheWire(array: WireArray): unknown {
  const [message] = new FrameDecoder().push(encodeFrame({ type: 'step', observation: array }));
  return message!.observation;
}

describe('zlib array encoding', () => {
  it('round-trips compressible arrays of every dtype bit-exactly, marked zlib', () => {
    const flat = renderedFrame(3, 5, 64);
    const f32 = new Float32Array(4096).map((_, i) => (i % 64 < 32 ? 0.5 : -Infinity));
    const f64 = new Float64Array(2048).map((_, i) => (i % 100 === 0 ? Math.PI : -0));
    const i32 = new Int32Array(2048).fill(-7);
    for (const array of [flat, f32, f64, i32]) {
      const wire = new ArrayCompressor().encode(encodeArray(array, [array.length]));
      expect(wire.encoding).toBe('zlib');
      expect(wire.data.byteLength).toBeLessThan(array.byteLength / 4);
      const { array: back } = decodeArray(overTheWire(wire), 'obs');
      expect(back.constructor).toBe(array.constructor);
      expect(Buffer.compare(Buffer.from(back.buffer, back.byteOffset, back.byteLength), Buffer.from(array.buffer, array.byteOffset, array.byteLength))).toBe(0);
      expect(Object.is(back[1], array[1])).toBe(true);
    }
  });

  it('sends noise and small arrays raw, and backs off after a miss', () => {
    const compressor = new ArrayCompressor();
    const noise = encodeArray(expectedFrame(1, 0, 40), [40, 40, 3]);
    expect(compressor.encode(noise)).toBe(noise);
    const small = encodeArray(new Uint8Array(100), [100]);
    expect(compressor.encode(small)).toBe(small);
    // Right after a miss the next array is not even tried, then compression resumes.
    const flat = encodeArray(renderedFrame(1, 0, 40), [40, 40, 3]);
    expect(compressor.encode(flat).encoding).toBeUndefined();
    expect(compressor.encode(flat).encoding).toBe('zlib');
  });

  it('names an unknown encoding, corrupt zlib data and a wrong inflated size', () => {
    const data = Buffer.from(deflateSync(Buffer.alloc(12, 9)));
    expect(() => decodeArray({ dtype: 'uint8', shape: [12], data, encoding: 'lz4' }, 'obs')).toThrow(RemoteProtocolError);
    expect(() => decodeArray({ dtype: 'uint8', shape: [12], data, encoding: 'lz4' }, 'obs')).toThrow(/unknown array encoding "lz4"; this client accepts zlib/);
    expect(() => decodeArray({ dtype: 'uint8', shape: [12], data: Buffer.from('not zlib'), encoding: 'zlib' }, 'obs')).toThrow(/zlib data does not inflate/);
    expect(() => decodeArray({ dtype: 'uint8', shape: [13], data, encoding: 'zlib' }, 'obs')).toThrow(/inflates to 12 bytes, the shape needs 13/);
    expect(() => decodeArray({ dtype: 'uint8', shape: [6], data, encoding: 'zlib' }, 'obs')).toThrow(/does not inflate to 6 bytes/);
    expect(decodeArray({ dtype: 'uint8', shape: [12], data, encoding: 'zlib' }, 'obs').array).toEqual(new Uint8Array(12).fill(9));
  });
});

describe('compression with the Node test server', () => {
  const opened = closedAfterEach();
  // Compression is for the pty (fewer ~4 KB wake-ups); over the local transport's pipes the server sends frames raw.
  const open = async (flags: string[], compress?: boolean, localTransport = false): Promise<RemoteEnv> => {
    const env = await createRemoteEnv({ command: testServerCommand(flags), timeoutMs: 20_000, localTransport, ...(compress === undefined ? {} : { compress }) });
    opened.push(env);
    expect(env.localTransport).toBe(localTransport);
    return env;
  };

  // Each pairing: a compressing server, a client that declines, a server that predates accept_encoding, and the local transport.
  for (const [name, flags, compress, local] of [
    ['compressed', [], undefined, false],
    ['declined by the client', [], false, false],
    ['an old server that ignores accept_encoding', ['--no-compress'], undefined, false],
    ['over the local transport (not compressed)', [], undefined, true],
  ] as const) {
    it(`rendered frames arrive bit-exact: ${name}`, async () => {
      const env = await open(['--frames', 'rendered', '--size', '64', ...flags], compress, local);
      const first = await env.reset({ seed: 4 });
      expect(Buffer.compare(first.observation as Uint8Array, renderedFrame(4, 0, 64))).toBe(0);
      for (let t = 1; t <= 3; t++) {
        const r = await env.step(new Float32Array([0.1, 0.2]));
        expect(Buffer.compare(r.observation as Uint8Array, renderedFrame(4, t, 64))).toBe(0);
      }
      expect(Buffer.compare((await env.render())!, renderedFrame(4, 3, 64))).toBe(0);
    });
  }

  it('noise frames stay bit-exact when compression is on offer', async () => {
    const env = await open(['--size', '64']);
    await env.reset({ seed: 8 });
    for (let t = 1; t <= 5; t++) {
      const r = await env.step(new Float32Array([0, 0]));
      expect(Buffer.compare(r.observation as Uint8Array, expectedFrame(8, t, 64))).toBe(0);
    }
  });
});

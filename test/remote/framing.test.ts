import msgpack from 'msgpack-lite';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinCommand, splitCommand, RemoteCommandError } from '../../envs/remote/command.js';
import { RemoteProtocolError } from '../../envs/remote/errors.js';
import { encodeFrame, FrameDecoder } from '../../envs/remote/framing.js';
import { decodeArray, encodeArray, parseSpace } from '../../envs/remote/protocol.js';
import { readTail } from '../../envs/remote/stderr-tail.js';

describe('frame encoding', () => {
  it('writes magic, big-endian length, then the msgpack payload', () => {
    const frame = encodeFrame({ type: 'spec', seq: 7 });
    const payload = msgpack.encode({ type: 'spec', seq: 7 });
    expect(frame.subarray(0, 4).toString('latin1')).toBe('CRLP');
    expect(frame[4]).toBe(0);
    expect(frame[5]).toBe(0);
    expect(frame[6]).toBe((payload.length >> 8) & 255);
    expect(frame[7]).toBe(payload.length & 255);
    expect(frame.subarray(8).equals(payload)).toBe(true);
  });

  it('reassembles frames split at every byte position, and several frames in one chunk', () => {
    const bytes = new Uint8Array(1000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37) & 255;
    const a = encodeFrame({ type: 'step', seq: 1, data: Buffer.from(bytes) });
    const b = encodeFrame({ type: 'reset', seq: 2 });
    const stream = Buffer.concat([a, b]);
    for (let cut = 0; cut <= stream.length; cut += 13) {
      const decoder = new FrameDecoder();
      const messages = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
      expect(messages.map((m) => m.type)).toEqual(['step', 'reset']);
      expect(Buffer.compare(messages[0]!.data as Buffer, Buffer.from(bytes))).toBe(0);
      expect(decoder.midFrame).toBe(false);
    }
    const decoder = new FrameDecoder();
    for (const byte of a) decoder.push(Buffer.from([byte])).forEach((m) => expect(m.seq).toBe(1));
  });

  it('rejects garbage at the first bad byte, oversized lengths and non-map payloads', () => {
    expect(() => new FrameDecoder().push(Buffer.from('Tr'))).toThrow(RemoteProtocolError);
    expect(() => new FrameDecoder().push(Buffer.from('Traceback (most recent call last)'))).toThrow(/expected magic "CRLP", got "Traceback/);
    const huge = Buffer.from([0x43, 0x52, 0x4c, 0x50, 0x7f, 0xff, 0xff, 0xff]);
    expect(() => new FrameDecoder().push(huge)).toThrow(/exceeds the limit/);
    const notMap = Buffer.concat([Buffer.from('CRLP'), Buffer.from([0, 0, 0, 1]), Buffer.from([0x2a])]);
    expect(() => new FrameDecoder().push(notMap)).toThrow(/must be a msgpack map/);
    // A partial magic that is still a prefix of "CRLP" is not yet an error.
    expect(new FrameDecoder().push(Buffer.from('CRL'))).toEqual([]);
  });
});

describe('arrays and spaces on the wire', () => {
  it('round-trips every dtype bit-exactly through msgpack, copying into aligned arrays', () => {
    const cases = [new Uint8Array([0, 13, 10, 255]), new Int32Array([-2, 2 ** 31 - 1]), new Float32Array([0.1, -Infinity]), new Float64Array([Math.PI, -0])];
    for (const array of cases) {
      const wire = msgpack.decode(msgpack.encode({ a: encodeArray(array, [array.length]) })) as { a: unknown };
      const { array: back, shape } = decodeArray(wire.a, 'x');
      expect(back.constructor).toBe(array.constructor);
      expect(shape).toEqual([array.length]);
      expect(Array.from(back)).toEqual(Array.from(array));
    }
  });

  it('names what is wrong with a malformed array', () => {
    expect(() => decodeArray({ dtype: 'int64', shape: [1], data: Buffer.alloc(8) }, 'obs')).toThrow(/obs: dtype must be one of/);
    expect(() => decodeArray({ dtype: 'float32', shape: [2, 2], data: Buffer.alloc(12) }, 'obs')).toThrow(/needs 16 bytes, got 12/);
    expect(() => decodeArray({ dtype: 'uint8', shape: [2], data: [1, 2] }, 'obs')).toThrow(/must be msgpack bin/);
  });

  it('parses box bounds given per element and discrete spaces', () => {
    const low = encodeArray(new Float64Array([-1, -2]), [2]);
    const space = parseSpace({ kind: 'box', shape: [2], dtype: 'float32', low, high: 3 }, 's');
    expect(space).toEqual({ kind: 'box', shape: [2], dtype: 'float32', low: new Float64Array([-1, -2]), high: 3 });
    expect(parseSpace({ kind: 'discrete', n: 4 }, 's')).toEqual({ kind: 'discrete', n: 4 });
    expect(() => parseSpace({ kind: 'box', shape: [0], dtype: 'uint8', low: 0, high: 1 }, 's')).toThrow(/positive integers/);
    expect(() => parseSpace({ kind: 'multi' }, 's')).toThrow(/'box' or 'discrete'/);
  });
});

describe('splitCommand', () => {
  it('splits like a POSIX shell without expanding anything', () => {
    expect(splitCommand(`python3  bridge.py --kwargs '{"a": 1}' "x \\"y\\" $HOME" a\\ b`)).toEqual([
      'python3',
      'bridge.py',
      '--kwargs',
      '{"a": 1}',
      'x "y" $HOME',
      'a b',
    ]);
    expect(splitCommand(`a '' ""`)).toEqual(['a', '', '']);
    expect(splitCommand('echo $(rm -rf /);ls')).toEqual(['echo', '$(rm', '-rf', '/);ls']);
  });

  it('round-trips through joinCommand and rejects broken quoting', () => {
    const argv = ['/path with space/node', "it's", '--x=1', '', 'a"b'];
    expect(splitCommand(joinCommand(argv))).toEqual(argv);
    expect(() => splitCommand(`a 'b`)).toThrow(RemoteCommandError);
    expect(() => splitCommand(`a "b`)).toThrow(/unterminated double quote/);
    expect(() => splitCommand('   ')).toThrow(/empty/);
  });
});

describe('readTail', () => {
  it('returns the last lines, dropping a partial first line when cut', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tail-test-'));
    const path = join(dir, 'err.log');
    writeFileSync(path, Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n') + '\n');
    expect(readTail(path, 3)).toBe('line 97\nline 98\nline 99');
    expect(readTail(path, 1000, 20)).toBe('line 98\nline 99');
    expect(readTail(join(dir, 'missing'))).toBe('');
  });
});

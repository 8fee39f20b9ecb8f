import { readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMsgpackFile, writeMsgpackFile } from '../../src/loop/checkpoint.js';
import { DamagedFileError, readCheckedFile, writeCheckedFile } from '../../src/run/checked-file.js';
import { scratchRoot } from '../faults/helpers.js';

const scratch = scratchRoot('curl-checked-');

function flipByte(path: string, at: number): void {
  const bytes = readFileSync(path);
  bytes[at] = bytes[at]! ^ 0x04;
  writeFileSync(path, bytes);
}

describe('checksummed files', () => {
  it('read back exactly what was written', () => {
    const path = join(scratch(), 'f');
    const payload = new Uint8Array([1, 2, 3, 250, 0, 7]);
    writeCheckedFile(path, payload);
    expect(readCheckedFile(path)).toEqual({ payload: Buffer.from(payload), unchecked: false });
    writeMsgpackFile(path, { a: [1, 2], b: 'x' });
    expect(readMsgpackFile(path)).toEqual({ a: [1, 2], b: 'x' });
  });

  it('refuse a file that is empty, cut short, grown or has any byte changed, saying which', () => {
    const dir = scratch();
    const make = (): string => {
      const path = join(dir, 'f');
      writeMsgpackFile(path, { weights: Array.from({ length: 200 }, (_, i) => i / 7) });
      return path;
    };
    const problem = (damage: (path: string) => void): string => {
      const path = make();
      damage(path);
      try {
        readMsgpackFile(path);
      } catch (error) {
        expect(error).toBeInstanceOf(DamagedFileError);
        return (error as DamagedFileError).problem;
      }
      throw new Error('the damaged file was read without complaint');
    };
    expect(problem((p) => writeFileSync(p, ''))).toMatch(/empty/);
    expect(problem((p) => truncateSync(p, 10))).toMatch(/cut short inside its header/);
    expect(problem((p) => truncateSync(p, statSync(p).size - 1))).toMatch(/cut short: \d+ of \d+ payload bytes/);
    expect(problem((p) => writeFileSync(p, Buffer.concat([readFileSync(p), Buffer.from([0])])))).toMatch(/1 bytes more/);
    const size = statSync(make()).size;
    for (const at of [12, 30, Math.floor(size / 2), size - 1]) expect(problem((p) => flipByte(p, at))).toMatch(/checksum does not match/);
    expect(problem((p) => flipByte(p, 0))).toMatch(/does not start with a curl-rl checksum header/);
    expect(problem((p) => rmSync(p))).toMatch(/missing/);
  });
});


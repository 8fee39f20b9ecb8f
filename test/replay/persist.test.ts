import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReplayBuffer } from '../../replay/buffer.js';
import { ReplayFileError } from '../../replay/errors.js';
import type { FrameStore } from '../../replay/frame-store.js';
import { CHUNK_BYTES } from '../../replay/persist.js';
import { Rng } from '../../src/core/rng.js';
import { expectBytes, fill, frameFor, makeBuffer } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'curl-rl-replay-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Everything observable: size, write count, every sampleable stack via a fixed-seed batch. */
function fingerprint(buffer: ReplayBuffer): unknown {
  const batch = buffer.size > 0 ? buffer.sample(64, new Rng(99), { cropSize: 4, positive: true }) : null;
  return { size: buffer.size, written: buffer.framesWritten, batch };
}

function wrapped(maxBlockBytes?: number): ReplayBuffer {
  const buffer = makeBuffer({ capacity: 10, ...(maxBlockBytes ? { maxBlockBytes } : {}) });
  fill(buffer, [4, 1, 6, 2, 7, 3], undefined, true); // 29 frames: wrapped twice, last episode open
  return buffer;
}

describe('replay save/load', () => {
  it('round-trips bit-identically after wrap-around, including the open episode', async () => {
    const a = wrapped();
    const path = join(dir, 'a.replay');
    await a.save(path);
    const b = makeBuffer({ capacity: 10 });
    await b.load(path);
    expect(fingerprint(b)).toEqual(fingerprint(a));
    for (let g = b.framesWritten - 8; g < b.framesWritten; g++) expectBytes(b.stackAt(g), a.stackAt(g));
    const again = join(dir, 'b.replay');
    await b.save(again);
    expect(Buffer.compare(readFileSync(again), readFileSync(path))).toBe(0);
    // Another block layout holds the same contents (its file chunks split at its block boundaries).
    const c = makeBuffer({ capacity: 10, maxBlockBytes: 2 * 48 });
    await c.load(path);
    expect(fingerprint(c)).toEqual(fingerprint(a));
    // The open episode continues in both, and they stay identical.
    for (const buffer of [a, b]) {
      buffer.addStep({ action: new Float32Array([1, 2]), reward: 3, terminated: true, truncated: false, nextFrame: frameFor(29, 48) });
    }
    expect(fingerprint(b)).toEqual(fingerprint(a));
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('streams a buffer larger than one chunk and an empty one', async () => {
    const big = new ReplayBuffer({ capacity: 300, frameShape: [100, 100, 3], actionDim: 3, frameStack: 3, maxBlockBytes: 7 * 30_000 });
    fill(big, [100, 120, 90]);
    const path = join(dir, 'big.replay');
    await big.save(path);
    expect(statSync(path).size).toBeGreaterThan(2 * CHUNK_BYTES);
    const copy = new ReplayBuffer({ capacity: 300, frameShape: [100, 100, 3], actionDim: 3, frameStack: 3 });
    await copy.load(path);
    const opts = { cropSize: 84, positive: true } as const;
    const [x, y] = [copy.sample(16, new Rng(1), opts), big.sample(16, new Rng(1), opts)];
    for (const k of ['obs', 'obsPositive', 'nextObs'] as const) expectBytes(x[k]!, y[k]!);
    expect([x.action, x.reward, x.notDone]).toEqual([y.action, y.reward, y.notDone]);

    const empty = makeBuffer({ capacity: 10 });
    await empty.save(join(dir, 'empty.replay'));
    const target = wrapped();
    await target.load(join(dir, 'empty.replay'));
    expect(target.size).toBe(0);
    expect(target.framesWritten).toBe(0);
    expect(() => target.addStep({ action: new Float32Array(2), reward: 0, terminated: false, truncated: false, nextFrame: frameFor(0, 48) })).toThrow(/addReset/);
  });

  it('rejects a truncated file, naming it, and leaves the buffer untouched', async () => {
    const path = join(dir, 'cut.replay');
    await wrapped().save(path);
    const full = readFileSync(path);
    const target = makeBuffer({ capacity: 10 });
    fill(target, [3, 3]);
    const before = fingerprint(target);
    for (const keep of [0, 10, Math.floor(full.length / 2), full.length - 1]) {
      writeFileSync(path, full.subarray(0, keep));
      const error = await target.load(path).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(ReplayFileError);
      expect((error as ReplayFileError).file).toBe(path);
      expect((error as Error).message).toContain(path);
      expect((error as ReplayFileError).problem).toMatch(keep === 0 ? /empty/ : /truncated/);
      expect(fingerprint(target)).toEqual(before);
    }
    truncateSync(path, 0);
  });

  it('rejects corrupted payloads, wrong layouts, foreign and missing files', async () => {
    const path = join(dir, 'bad.replay');
    const source = wrapped();
    await source.save(path);
    const good = readFileSync(path);
    const target = makeBuffer({ capacity: 10 });
    fill(target, [2]);
    const before = fingerprint(target);
    const loadError = async (p: string, into: ReplayBuffer = target): Promise<ReplayFileError> => {
      const e = await into.load(p).then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(ReplayFileError);
      return e as ReplayFileError;
    };

    const flipped = Buffer.from(good);
    const at = flipped.length - 100; // inside the last frames chunk
    flipped[at] = flipped[at]! ^ 0x40;
    writeFileSync(path, flipped);
    expect((await loadError(path)).problem).toMatch(/checksum mismatch/);

    writeFileSync(path, good);
    expect((await loadError(path, makeBuffer({ capacity: 11 }))).problem).toMatch(/capacity 10 \(buffer: 11\)/);
    expect((await loadError(path, makeBuffer({ capacity: 10, frameStack: 4 }))).problem).toMatch(/frameStack 3 \(buffer: 4\)/);

    writeFileSync(path, JSON.stringify({ hello: 'world' }));
    expect((await loadError(path)).problem).toMatch(/not a curl-rl replay file|unreadable/);

    expect((await loadError(join(dir, 'missing.replay'))).problem).toBe('no such file');
    expect(fingerprint(target)).toEqual(before);

    const noDir = await source.save(join(dir, 'no', 'such', 'dir.replay')).then(() => null, (e: unknown) => e);
    expect(noDir).toBeInstanceOf(ReplayFileError);
  });

  it('replaces the previous file only when the new one is complete', async () => {
    const path = join(dir, 'atomic.replay');
    await wrapped().save(path);
    const first = readFileSync(path);
    const other = makeBuffer({ capacity: 10 });
    fill(other, [1]);
    await other.save(path);
    const second = readFileSync(path);
    expect(Buffer.compare(first, second)).not.toBe(0);
    const check = makeBuffer({ capacity: 10 });
    await check.load(path);
    expect(fingerprint(check)).toEqual(fingerprint(other));
  });

  it('keeps the previous file intact, and no partial file, when a save fails half way', async () => {
    const folder = join(dir, 'interrupted');
    mkdirSync(folder);
    const path = join(folder, 'ckpt.replay');
    const previous = wrapped();
    await previous.save(path);
    const before = readFileSync(path);

    // A bigger buffer whose frames stop being readable after the first frames record is on disk:
    // the failure lands mid-write, after the header, the arrays and one chunk of frames.
    const next = makeBuffer({ capacity: 10, maxBlockBytes: 2 * 48 });
    fill(next, [3, 5]);
    const store = (next as unknown as { frames: FrameStore }).frames;
    const ranges = store.ranges.bind(store);
    let partial: { name: string; bytes: number } | undefined;
    store.ranges = function* (...args: Parameters<FrameStore['ranges']>) {
      for (const piece of ranges(...args)) {
        yield piece;
        const tmp = readdirSync(folder).find((f) => f !== 'ckpt.replay');
        partial = tmp === undefined ? undefined : { name: tmp, bytes: statSync(join(folder, tmp)).size };
        throw new Error('EIO: the disk went away');
      }
    };
    const error = await next.save(path).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(ReplayFileError);
    expect((error as ReplayFileError).problem).toMatch(/write failed: EIO: the disk went away/);
    // the save really was interrupted part way through a temp file...
    expect(partial?.name).toMatch(/^\.ckpt\.replay\..*\.tmp$/);
    expect(partial?.bytes).toBeGreaterThan(48);
    // ...which is gone; the checkpoint is byte-identical and still loads
    expect(readdirSync(folder)).toEqual(['ckpt.replay']);
    expect(Buffer.compare(readFileSync(path), before)).toBe(0);
    const check = makeBuffer({ capacity: 10 });
    await check.load(path);
    expect(fingerprint(check)).toEqual(fingerprint(previous));
  });
});

import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodePng } from '../../envs/image.js';
import { contactSheet, evenIndices } from '../../src/run/tensorboard/contact-sheet.js';
import { cutEventFiles, EventFileWriter, eventFiles, eventFileSizes, readEventFile } from '../../src/run/tensorboard/event-files.js';
import { decodeEvent, FILE_VERSION, imageEvent, scalarsEvent, sessionStartEvent, textEvent } from '../../src/run/tensorboard/events.js';
import { crc32cOf, frameRecord, maskedCrc32c, readRecords, RecordError } from '../../src/run/tensorboard/records.js';
import { configMarkdown, recordScalars, snakeCase, TensorBoardLog } from '../../src/run/tensorboard/run-log.js';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'curl-tb-'));

describe('TFRecord framing', () => {
  it('CRC-32C matches the Castagnoli check value and RFC 3720 test vectors', () => {
    expect(crc32cOf(Buffer.from('123456789'))).toBe(0xe3069283);
    // RFC 3720, B.4: 32 bytes of zeros, of 0xff, and 0..31
    expect(crc32cOf(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32cOf(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32cOf(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  });

  it('masks the CRC as TFRecord does: rotate right by 15, add 0xa282ead8', () => {
    const data = Buffer.from('curl-rl');
    const crc = crc32cOf(data);
    const rotated = ((crc >>> 15) | (crc << 17)) >>> 0;
    expect(maskedCrc32c(data)).toBe((rotated + 0xa282ead8) % 2 ** 32);
  });

  it('frames a record as length, its masked CRC, the data and the data\'s masked CRC, and reads it back', () => {
    const data = Buffer.from('hello tensorboard');
    const record = frameRecord(data);
    expect(record.length).toBe(8 + 4 + data.length + 4);
    expect(record.readBigUInt64LE(0)).toBe(BigInt(data.length));
    expect(record.readUInt32LE(8)).toBe(maskedCrc32c(record.subarray(0, 8)));
    expect(record.subarray(12, 12 + data.length).equals(data)).toBe(true);
    expect(record.readUInt32LE(12 + data.length)).toBe(maskedCrc32c(data));
    const two = Buffer.concat([record, frameRecord(Buffer.alloc(0))]);
    expect(readRecords(two).map((r) => Buffer.from(r).toString())).toEqual(['hello tensorboard', '']);
  });

  it('refuses a record with a changed byte or cut short', () => {
    const record = frameRecord(Buffer.from('abcdef'));
    const flipped = Buffer.from(record);
    flipped[14] = flipped[14]! ^ 1;
    expect(() => readRecords(flipped)).toThrow(/data CRC mismatch/);
    const length = Buffer.from(record);
    length[0] = length[0]! ^ 1;
    expect(() => readRecords(length)).toThrow(/length CRC mismatch/);
    expect(() => readRecords(record.subarray(0, record.length - 1))).toThrow(RecordError);
    expect(() => readRecords(record.subarray(0, 5))).toThrow(/header cut short/);
  });
});

describe('Event messages', () => {
  it('round-trip scalars, text, images and the restart marker through protobufjs', () => {
    const scalars = decodeEvent(scalarsEvent(1200, 1.5e9, [{ tag: 'train/critic_loss', value: 0.25 }, { tag: 'eval/return', value: 123.456 }]));
    expect(scalars.step).toBe(1200);
    expect(scalars.wallTime).toBe(1.5e9);
    // simple_value is a float32
    expect(scalars.summary!.value.map((v) => [v.tag, v.simpleValue])).toEqual([['train/critic_loss', 0.25], ['eval/return', Math.fround(123.456)]]);

    const text = decodeEvent(textEvent(3, 0, 'config', '| a | b |'));
    const value = text.summary!.value[0]!;
    expect(value.metadata?.pluginData?.pluginName).toBe('text');
    expect(value.tensor?.dtype).toBe(7); // DT_STRING
    expect(Buffer.from(value.tensor!.stringVal![0]!).toString()).toBe('| a | b |');

    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
    const image = decodeEvent(imageEvent(8, 0, 'eval/frames', { png, width: 5, height: 4 })).summary!.value[0]!.image!;
    expect([image.width, image.height, image.colorspace, Buffer.from(image.encodedImageString).equals(png)]).toEqual([5, 4, 3, true]);

    expect(decodeEvent(sessionStartEvent(41, 0)).sessionLog?.status).toBe(1);
  });

  it('steps beyond 2^32 survive (int64)', () => {
    expect(decodeEvent(scalarsEvent(2 ** 40 + 3, 0, [])).step).toBe(2 ** 40 + 3);
  });
});

describe('what a run logs', () => {
  it('spells metric names in snake case', () => {
    expect(['criticLoss', 'curlAccuracy', 'auxOnDiag', 'q1', 'envStepsPerSec', 'logPi'].map(snakeCase)).toEqual([
      'critic_loss', 'curl_accuracy', 'aux_on_diag', 'q1', 'env_steps_per_sec', 'log_pi',
    ]);
  });

  it('maps every numeric field of train, eval and episode records to a grouped tag', () => {
    const stamp = { agentStep: 50, envStep: 200, wallTime: 7.5 };
    expect(recordScalars({ type: 'train', ...stamp, updates: 40, envStepsPerSec: 26.5, updatesPerSec: 5.25, criticLoss: 0.5, curlAccuracy: 0.125, note: 'x' })).toEqual([
      { tag: 'perf/agent_step', value: 50 },
      { tag: 'perf/wall_time', value: 7.5 },
      { tag: 'perf/updates', value: 40 },
      { tag: 'perf/env_steps_per_sec', value: 26.5 },
      { tag: 'perf/updates_per_sec', value: 5.25 },
      { tag: 'train/critic_loss', value: 0.5 },
      { tag: 'train/curl_accuracy', value: 0.125 },
    ]);
    expect(recordScalars({ type: 'eval', ...stamp, mean: 2, std: 1, returns: [1, 3] })).toEqual([
      { tag: 'eval/return', value: 2 },
      { tag: 'eval/return_std', value: 1 },
      { tag: 'eval/return_min', value: 1 },
      { tag: 'eval/return_max', value: 3 },
    ]);
    // put back from eval.csv by a resume that rebuilt metrics.jsonl: no per-episode returns
    expect(recordScalars({ type: 'eval', ...stamp, mean: 2, std: 1 }).map((v) => v.tag)).toEqual(['eval/return', 'eval/return_std']);
    expect(recordScalars({ type: 'episode', ...stamp, episode: 0, return: 9, length: 250 })).toEqual([
      { tag: 'episode/return', value: 9 },
      { tag: 'episode/length', value: 250 },
    ]);
    expect(recordScalars({ type: 'checkpoint', ...stamp, path: 'p', reason: 'final' })).toEqual([]);
  });

  it('writes the config as a Markdown table', () => {
    expect(configMarkdown({ env: 'toy-reach', lr: 0.001, remoteCmd: undefined, aug: 'a|b' })).toBe(
      '| field | value |\n| --- | --- |\n| env | toy-reach |\n| lr | 0.001 |\n| aug | a\\|b |',
    );
  });

  it('lays an episode out as evenly picked frames in a grid, each pixel where index arithmetic puts it', () => {
    expect(evenIndices(5, 16)).toEqual([0, 1, 2, 3, 4]);
    expect(evenIndices(126, 4)).toEqual([0, 42, 83, 125]);
    const size = 3;
    // frame f has value f * 10 + y at row y everywhere
    const frames = Array.from({ length: 11 }, (_, f) => Uint8Array.from({ length: size * size * 3 }, (_, i) => f * 10 + Math.floor(i / (size * 3))));
    const sheet = contactSheet(frames, size, { count: 5, columns: 3, gap: 1 });
    expect(sheet.picked).toEqual([0, 3, 5, 8, 10]);
    expect([sheet.width, sheet.height]).toEqual([3 * 3 + 4, 2 * 3 + 3]);
    sheet.picked.forEach((f, k) => {
      const x0 = 1 + (k % 3) * 4;
      const y0 = 1 + Math.floor(k / 3) * 4;
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) for (let c = 0; c < 3; c++) {
        expect(sheet.rgb[((y0 + y) * sheet.width + x0 + x) * 3 + c]).toBe(f * 10 + y);
      }
    });
    // the gaps and the empty sixth cell stay black
    expect(sheet.rgb[0]).toBe(0);
    expect(sheet.rgb[((1 + 4) * sheet.width + 1 + 8) * 3]).toBe(0);
  });
});

describe('event files', () => {
  it('names each file after its start time and host, a second one in the same second sorting after it', () => {
    const dir = tempDir();
    const a = new EventFileWriter(dir, { now: () => 1700000000.7, host: 'box' });
    const b = new EventFileWriter(dir, { now: () => 1700000000.9, host: 'box' });
    const c = new EventFileWriter(dir, { now: () => 1700000001.1, host: 'box' });
    expect(eventFiles(dir)).toEqual(['events.out.tfevents.1700000000.box', 'events.out.tfevents.1700000000.box.1', 'events.out.tfevents.1700000001.box']);
    expect([a.path, b.path, c.path].map((p) => p.slice(dir.length + 1))).toEqual(eventFiles(dir));
    expect(readEventFile(a.path)).toEqual([{ wallTime: 1700000000.7, step: 0, fileVersion: FILE_VERSION }]);
  });

  it('cuts files back to the sizes a checkpoint recorded and removes the ones begun after it', () => {
    const dir = tempDir();
    let t = 1700000000;
    const first = new TensorBoardLog(dir, { now: () => t++, host: 'h' });
    first.record({ type: 'eval', agentStep: 0, envStep: 0, wallTime: 0, mean: 1, std: 0, returns: [1] });
    const sizes = eventFileSizes(join(dir, 'tb'));
    first.record({ type: 'eval', agentStep: 10, envStep: 40, wallTime: 1, mean: 2, std: 0, returns: [2] });
    const second = new TensorBoardLog(dir, { now: () => t++, host: 'h' });
    second.record({ type: 'eval', agentStep: 20, envStep: 80, wallTime: 2, mean: 3, std: 0, returns: [3] });
    writeFileSync(join(dir, 'tb', 'notes.txt'), 'mine');

    cutEventFiles(join(dir, 'tb'), sizes);
    expect(existsSync(second.path)).toBe(false);
    expect(statSync(first.path).size).toBe(sizes[first.path.slice(join(dir, 'tb').length + 1)]);
    expect(readEventFile(first.path).map((e) => e.step)).toEqual([0, 0]);
    expect(readFileSync(join(dir, 'tb', 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('writes the evaluation frames as a PNG that decodes to the contact sheet', () => {
    const dir = tempDir();
    const log = new TensorBoardLog(dir, { host: 'h' });
    const frames = Array.from({ length: 20 }, (_, f) => new Uint8Array(4 * 4 * 3).fill(f * 12));
    log.evalFrames(80, frames, 4);
    const image = readEventFile(log.path)[1]!.summary!.value[0]!;
    expect(image.tag).toBe('eval/frames');
    const png = decodePng(Buffer.from(image.image!.encodedImageString));
    const sheet = contactSheet(frames, 4);
    expect([png.width, png.height]).toEqual([sheet.width, sheet.height]);
    expect(Buffer.from(png.rgb).equals(Buffer.from(sheet.rgb))).toBe(true);
  });
});

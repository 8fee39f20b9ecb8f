import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { defaultConfig } from '../../src/config/schema.js';

async function cli(args: string[]): Promise<{ code: number; err: string; out: string }> {
  const err: string[] = [];
  const out: string[] = [];
  const { error, log } = console;
  const write = process.stderr.write.bind(process.stderr);
  const writeOut = process.stdout.write.bind(process.stdout);
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  process.stderr.write = ((c: string) => (err.push(String(c)), true)) as typeof process.stderr.write;
  process.stdout.write = ((c: string) => (out.push(String(c)), true)) as typeof process.stdout.write;
  try {
    return { code: await main(args), err: err.join('\n'), out: out.join('\n') };
  } finally {
    console.error = error;
    console.log = log;
    process.stderr.write = write;
    process.stdout.write = writeOut;
  }
}

describe('--aug, --aug-k, --aug-m', () => {
  it('default to crop, 1, 1 (CURL as before)', () => {
    expect(defaultConfig()).toMatchObject({ aug: 'crop', augK: 1, augM: 1 });
    expect(resolveConfig({ flags: { aug: 'shift+jitter', imageSize: 84, cropSize: 84, augK: 2, augM: 2 } }).config).toMatchObject({ aug: 'shift+jitter', augK: 2, augM: 2 });
  });

  it('bad values exit 2 with a message that says what is valid', async () => {
    const foo = await cli(['config', '--aug', 'foo']);
    expect(foo.code).toBe(2);
    expect(foo.err).toMatch(/--aug \(aug\) = "foo" is invalid: unknown augmentation part\(s\) "foo".*valid parts: crop, shift, jitter, cutout/);
    const trainFoo = await cli(['train', '--aug', 'crop+foo', '--steps', '8']);
    expect(trainFoo.code).toBe(2);
    expect(trainFoo.err).toMatch(/"foo".*valid parts: crop, shift, jitter, cutout/);
    const k0 = await cli(['config', '--aug-k', '0']);
    expect(k0.code).toBe(2);
    expect(k0.err).toMatch(/--aug-k \(augK\) = 0 is invalid: .*allowed: an integer >= 1 and <= 16/);
    const m = await cli(['config', '--aug-m', '1.5']);
    expect(m.code).toBe(2);
    expect(m.err).toMatch(/--aug-m \(augM\) = "1\.5" is not a whole number/);
    const shift = await cli(['config', '--aug', 'shift']);
    expect(shift.code).toBe(2);
    expect(shift.err).toMatch(/--crop-size \(84\) must equal --image-size \(100\).*--image-size 84 --crop-size 84/);
  });

  it('train --help lists them with their meaning', async () => {
    const help = await cli(['train', '--help']);
    const text = `${help.out}\n${help.err}`.replace(/\s+/g, ' ');
    expect(text).toMatch(/--aug <value> training-time augmentation .*DrQ's pad-4 edge-replicated random shift.*\[a '\+'-joined list of crop, shift, jitter, cutout/);
    expect(text).toMatch(/--aug-k <value> DrQ's K: the critic target is averaged over K augmented views of next_obs/);
    expect(text).toMatch(/--aug-m <value> DrQ's M: the critic's Q loss is averaged over M augmented views of obs/);
  });
});

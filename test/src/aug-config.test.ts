import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auxObjectives } from '../../agents/aux/registry.js';
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

describe('--aug none (pixel SAC without augmentation)', () => {
  it('is accepted with --aux none and K = M = 1', () => {
    expect(resolveConfig({ flags: { aug: 'none', aux: 'none' } }).config).toMatchObject({ aug: 'none', aux: 'none', augK: 1, augM: 1 });
  });

  it('refuses every registered objective that reads a positive view, and only those', () => {
    const twoView = auxObjectives().filter((d) => d.needs.onlinePos || d.needs.targetPos).map((d) => d.name);
    // every objective but pixel SAC's compares two views; the memory bank compares one view with the
    // feature it stored at an earlier visit, which --aug none leaves well defined
    expect(twoView).toEqual(auxObjectives().map((d) => d.name).filter((name) => name !== 'none' && name !== 'memory-bank'));
    expect(resolveConfig({ flags: { aug: 'none', aux: 'memory-bank' } }).config).toMatchObject({ aug: 'none', aux: 'memory-bank' });
    expect(twoView.length).toBeGreaterThan(0);
    for (const aux of twoView) {
      expect(() => resolveConfig({ flags: { aug: 'none', aux } }), aux).toThrow(
        new RegExp(`--aux ${aux} learns by comparing two differently augmented views.*its positive would equal its anchor: use --aux none .*or an --aug with crop or shift`),
      );
    }
  });

  it('train --aug none --aux curl exits 2 with the reason before creating anything', async () => {
    const runsDir = mkdtempSync(join(tmpdir(), 'aug-none-'));
    const r = await cli(['train', '--aug', 'none', '--aux', 'curl', '--env', 'toy-reach', '--steps', '8', '--runs-dir', runsDir]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--aux curl learns by comparing two differently augmented views.*--aug none makes every view the same centre crop.*its positive would equal its anchor/);
    expect(readdirSync(runsDir)).toEqual([]);
    expect(existsSync(join(runsDir, 'toy-reach'))).toBe(false);
  });

  it('refuses K or M above 1 (identical views) and none joined with other parts, exit 2', async () => {
    const k = await cli(['config', '--aug', 'none', '--aux', 'none', '--aug-k', '2']);
    expect(k.code).toBe(2);
    expect(k.err).toMatch(/--aug-k 2 averages over 2 augmented views, but --aug none makes every view the same centre crop.*use --aug-k 1, or an --aug with crop or shift/);
    const m = await cli(['config', '--aug', 'none', '--aux', 'none', '--aug-m', '3']);
    expect(m.code).toBe(2);
    expect(m.err).toMatch(/--aug-m 3 averages over 3 augmented views/);
    const joined = await cli(['config', '--aug', 'none+jitter', '--aux', 'none']);
    expect(joined.code).toBe(2);
    expect(joined.err).toMatch(/"none\+jitter" joins 'none' with other parts; 'none' \(the centre crop, no augmentation\) stands alone/);
  });

  it('train --help names it', async () => {
    const help = await cli(['train', '--help']);
    const text = `${help.out}\n${help.err}`.replace(/\s+/g, ' ');
    expect(text).toMatch(/none = no augmentation, every view the centre crop \(pixel SAC's baseline; with --aux none\)/);
    expect(text).toMatch(/or none alone \(the centre crop, no augmentation\)/);
  });
});

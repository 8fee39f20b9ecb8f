import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { decodePng } from '../../envs/image.js';
import { testServerCommand } from '../../envs/remote/index.js';
import { gifImages } from '../gif.js';
import * as envsCommand from '../../src/cli/commands/envs.js';
import * as renderCommand from '../../src/cli/commands/render.js';

const dir = mkdtempSync(join(tmpdir(), 'curl-rl-envs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<string[]> {
  const program = new Command().exitOverride();
  envsCommand.register(program);
  renderCommand.register(program);
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return lines;
}

describe('curl-rl envs', () => {
  it('--json prints one object per env with observation shape and action space', async () => {
    const rows = (await run(['envs', '--json'])).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => r['id'])).toContain('walker-walk');
    expect(rows.find((r) => r['id'] === 'walker-walk')).toMatchObject({
      observation: { shape: [100, 100, 3], dtype: 'uint8' },
      action: { kind: 'box', shape: [6], low: -1, high: 1 },
      episodeSteps: 1000,
    });
  });

  it("--remote-cmd lists the remote env's action space as the agent sees it, and the env's own bounds when they were rescaled", async () => {
    const rows = (await run(['envs', '--json', '--image-size', '16', '--remote-cmd', testServerCommand(['--size', '16', '--action-bounds=0,4'])])).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.at(-1)).toMatchObject({ id: 'remote', action: { kind: 'box', shape: [2], low: -1, high: 1 }, envAction: { kind: 'box', shape: [2], low: 0, high: 4 } });
    const text = await run(['envs', '--image-size', '16', '--remote-cmd', testServerCommand(['--size', '16'])]);
    expect(text.at(-1)).toMatch(/^remote .*action box\[2\] in \[-1, 1\]  remote env/);
  });
});

describe('curl-rl render', () => {
  it('writes a PNG of the frame after K steps, reproducibly', async () => {
    const a = join(dir, 'a.png');
    const b = join(dir, 'b.png');
    await run(['render', '--env', 'toy-reach', '--seed', '3', '--steps', '4', '--out', a, '--image-size', '20']);
    await run(['render', '--env', 'toy-reach', '--seed', '3', '--steps', '4', '--out', b, '--image-size', '20']);
    const img = decodePng(readFileSync(a));
    expect([img.width, img.height]).toEqual([20, 20]);
    expect(Buffer.compare(readFileSync(a), readFileSync(b))).toBe(0);
  });

  it('writes a GIF of K frames', async () => {
    const out = join(dir, 'x.gif');
    await run(['render', '--env', 'pendulum-swingup', '--steps', '3', '--out', out, '--image-size', '16', '--action-repeat', '2']);
    expect(gifImages(readFileSync(out))).toEqual(Array.from({ length: 3 }, () => ({ width: 16, height: 16 })));
    const one = join(dir, 'one.gif');
    await run(['render', '--env', 'pendulum-swingup', '--steps', '1', '--out', one, '--image-size', '16']);
    expect(gifImages(readFileSync(one))).toHaveLength(1);
  });

  it('rejects a bad extension and an unknown env', async () => {
    await expect(run(['render', '--env', 'toy-reach', '--out', join(dir, 'x.jpg')])).rejects.toThrow(/must end in .png or .gif/);
    await expect(run(['render', '--env', 'nope', '--out', join(dir, 'x.png')])).rejects.toThrow(/not registered/);
  });
});

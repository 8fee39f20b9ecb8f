import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../loop/helpers.js';

const nativeDir = join(repoRoot, 'agents', 'native');
const locate = join(nativeDir, 'locate-libtorch.mjs');

function run(script: string, args: string[], env: Record<string, string>) {
  const { CURL_LIBTORCH: _ignored, ...rest } = process.env;
  return spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', env: { ...rest, ...env }, timeout: 60_000 });
}

/** The layout of an unpacked libtorch: headers under include/, the three libraries under lib/. */
function fakeLibtorch(root: string, abiMarker: string): void {
  mkdirSync(join(root, 'include', 'ATen'), { recursive: true });
  mkdirSync(join(root, 'include', 'torch', 'csrc', 'api', 'include'), { recursive: true });
  writeFileSync(join(root, 'include', 'ATen', 'ATen.h'), '');
  mkdirSync(join(root, 'lib'));
  for (const lib of ['libtorch.so', 'libtorch_cpu.so']) writeFileSync(join(root, 'lib', lib), '');
  writeFileSync(join(root, 'lib', 'libc10.so'), `\x7fELF...${abiMarker}...`);
}

describe('finding libtorch and building the addon', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('LIBTORCH_DIR: include and lib flags for gyp, with the C++ ABI its libc10 was built with', () => {
    dir = mkdtempSync(join(tmpdir(), 'libtorch-'));
    fakeLibtorch(join(dir, 'new'), '_ZNK3c1010TensorImpl4sizeB5cxx11Ev');
    fakeLibtorch(join(dir, 'old'), '_ZNK3c1010TensorImpl4sizeEv');
    const found = JSON.parse(run(locate, ['--json'], { LIBTORCH_DIR: join(dir, 'new') }).stdout);
    expect(found).toMatchObject({ ok: true, lib: join(dir, 'new', 'lib'), cxx11Abi: 1 });
    expect(found.include).toEqual([join(dir, 'new', 'include'), join(dir, 'new', 'include', 'torch', 'csrc', 'api', 'include')]);
    expect(run(locate, ['--gyp-libs'], { LIBTORCH_DIR: join(dir, 'new') }).stdout.trim()).toBe(
      `-L${join(dir, 'new', 'lib')} -ltorch -ltorch_cpu -lc10 -Wl,-rpath,${join(dir, 'new', 'lib')}`,
    );
    expect(run(locate, ['--gyp-defines'], { LIBTORCH_DIR: join(dir, 'old') }).stdout.trim()).toBe('_GLIBCXX_USE_CXX11_ABI=0');
  });

  it('a LIBTORCH_DIR without libtorch is reported, not silently replaced by another libtorch', () => {
    dir = mkdtempSync(join(tmpdir(), 'libtorch-'));
    const found = JSON.parse(run(locate, ['--json'], { LIBTORCH_DIR: dir }).stdout);
    expect(found).toEqual({ ok: false, why: `LIBTORCH_DIR=${dir}: no headers under ${join(dir, 'include')}` });
    const gyp = run(locate, ['--gyp-include'], { LIBTORCH_DIR: dir });
    expect(gyp.status).toBe(1);
    expect(gyp.stderr).toMatch(/libtorch not found/);
  });

  it("npm ci's optional build never fails the install: with no libtorch it says once how to get the fast engine", () => {
    dir = mkdtempSync(join(tmpdir(), 'libtorch-'));
    const r = run(join(nativeDir, 'build.mjs'), ['--optional'], { LIBTORCH_DIR: dir });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toMatch(/native conv engine not built \(no libtorch: .*\); training will run its convs on the tfjs engine.*npm run build:native/);
    // asked for explicitly (npm run build:native), the same is a failure
    const strict = run(join(nativeDir, 'build.mjs'), [], { LIBTORCH_DIR: dir });
    expect(strict.status).toBe(1);
    expect(strict.stderr).toMatch(/cannot build the native conv engine: no libtorch/);
  });
});

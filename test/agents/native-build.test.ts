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

/**
 * The layout of an unpacked libtorch: headers under include/, the three libraries under lib/; with a
 * version, its macros where that release keeps them (2.x: torch/headeronly/version.h), and with a
 * C++ standard, the CMake config that asks for it (share/cmake/Torch, as pip's and unpacked ones have).
 */
function fakeLibtorch(root: string, abiMarker: string, version?: string, cxxStandard?: number): void {
  const api = join(root, 'include', 'torch', 'csrc', 'api', 'include');
  mkdirSync(join(root, 'include', 'ATen'), { recursive: true });
  mkdirSync(join(api, 'torch'), { recursive: true });
  writeFileSync(join(root, 'include', 'ATen', 'ATen.h'), '');
  mkdirSync(join(root, 'lib'));
  for (const lib of ['libtorch.so', 'libtorch_cpu.so']) writeFileSync(join(root, 'lib', lib), '');
  writeFileSync(join(root, 'lib', 'libc10.so'), `\x7fELF...${abiMarker}...`);
  if (version) {
    const [major, minor, patch] = version.split('.');
    const macros = `#pragma once\n#define TORCH_VERSION_MAJOR ${major}\n#define TORCH_VERSION_MINOR ${minor}\n#define TORCH_VERSION_PATCH ${patch}\n`;
    const header = Number(major) >= 2 ? join(root, 'include', 'torch', 'headeronly', 'version.h') : join(api, 'torch', 'version.h');
    mkdirSync(join(header, '..'), { recursive: true });
    writeFileSync(header, macros);
  }
  if (cxxStandard) {
    mkdirSync(join(root, 'share', 'cmake', 'Torch'), { recursive: true });
    writeFileSync(join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), `set_property(TARGET torch PROPERTY\n    CXX_STANDARD ${cxxStandard}\n)\n`);
  }
}

/** A `python3` whose `import torch` finds the libtorch at dir (what locate-libtorch asks an interpreter). */
function fakePython(path: string, dir: string): void {
  writeFileSync(path, `#!/bin/sh\nprintf '%s\\n1\\n' '${dir}'\n`, { mode: 0o755 });
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

  it('several libtorches: the newest wins, with its C++ standard, and the finding names every candidate and why', () => {
    dir = mkdtempSync(join(tmpdir(), 'libtorch-'));
    fakeLibtorch(join(dir, 'old'), 'cxx11', '1.13.1');
    fakeLibtorch(join(dir, 'new'), 'cxx11', '2.99.0', 20);
    fakeLibtorch(join(dir, 'unversioned'), 'cxx11');
    mkdirSync(join(dir, 'bin'));
    fakePython(join(dir, 'bin', 'python3'), join(dir, 'new'));
    fakePython(join(dir, 'python-old'), join(dir, 'old'));
    fakePython(join(dir, 'python-unversioned'), join(dir, 'unversioned'));
    const env = { PATH: `${join(dir, 'bin')}:${process.env.PATH}` };
    // PYTHON first, then the PATH's python3: the newest wins wherever it was found
    const found = JSON.parse(run(locate, ['--json'], { ...env, PYTHON: join(dir, 'python-old') }).stdout);
    expect(found).toMatchObject({ ok: true, version: '2.99.0', lib: join(dir, 'new', 'lib'), cxxStd: 20, cxx11Abi: 1 });
    expect(found.source).toBe(`PyTorch of python3 (${join(dir, 'new')})`);
    expect(found.reason).toMatch(/^the newest of the \d+ libtorches found$/);
    expect(found.candidates).toEqual(
      expect.arrayContaining([
        { source: `PyTorch of ${join(dir, 'python-old')} (${join(dir, 'old')})`, version: '1.13.1' },
        { source: `PyTorch of python3 (${join(dir, 'new')})`, version: '2.99.0' },
      ]),
    );
    expect(run(locate, ['--gyp-std'], { ...env, PYTHON: join(dir, 'python-old') }).stdout.trim()).toBe('c++20');
    // a libtorch whose headers carry no version sorts below every versioned one
    const unversioned = JSON.parse(run(locate, ['--json'], { ...env, PYTHON: join(dir, 'python-unversioned') }).stdout);
    expect(unversioned).toMatchObject({ version: '2.99.0' });
    expect(unversioned.candidates).toContainEqual({ source: `PyTorch of ${join(dir, 'python-unversioned')} (${join(dir, 'unversioned')})`, version: null });
    // named explicitly, the older one is taken as it is, at C++17 at least
    const named = JSON.parse(run(locate, ['--json'], { ...env, LIBTORCH_DIR: join(dir, 'old') }).stdout);
    expect(named).toMatchObject({ ok: true, version: '1.13.1', cxxStd: 17, reason: 'named by LIBTORCH_DIR' });
    expect(named.candidates).toEqual([{ source: `LIBTORCH_DIR=${join(dir, 'old')}`, version: '1.13.1' }]);
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
    // a second build's libtorch, named by flag, is checked the same way (and nothing else is looked for)
    const second = run(join(nativeDir, 'build.mjs'), ['--libtorch-dir', dir, '--out', join(dir, 'second')], {});
    expect(second.status).toBe(1);
    expect(second.stderr).toContain(`cannot build the native conv engine: no libtorch: --libtorch-dir=${dir}: no headers under ${join(dir, 'include')}`);
  });

  it('--help prints the usage; an unknown flag exits 2 with it, not a stack trace', () => {
    const help = run(join(nativeDir, 'build.mjs'), ['--help'], {});
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: node agents\/native\/build.mjs .*--libtorch-dir DIR/s);
    const bad = run(join(nativeDir, 'build.mjs'), ['--libtorch', '/x'], {});
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/Unknown option '--libtorch'.*\nusage:/s);
    expect(bad.stderr).not.toMatch(/at parseArgs/);
  });
});

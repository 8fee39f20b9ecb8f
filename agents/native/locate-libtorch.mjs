#!/usr/bin/env node
// Finds the libtorch to build the conv engine against.
//   - LIBTORCH_DIR (or build.mjs --libtorch-dir): that one, an unpacked libtorch or any dir with
//     include/ and lib/; nothing else is looked for, so an explicit choice is never overridden;
//   - otherwise every libtorch found, the system's (Debian/Ubuntu `libtorch-dev`) and the one
//     inside each Python PyTorch (`python3 -c "import torch"`: PYTHON, the PATH's python3,
//     /usr/bin/python3), and the newest version wins: a pip-installed PyTorch is usually newer
//     than a distribution's, and newer oneDNN releases run the convs faster.
// Each candidate carries what its headers say: its version (torch/version.h), the C++ standard
// its CMake config compiles with (2.x needs C++17 at least, recent 2.x C++20) and its C++ ABI.
// Prints JSON (--json) or the flags binding.gyp asks for (--gyp-include, --gyp-libs,
// --gyp-defines, --gyp-std). The build script passes its finding in CURL_LIBTORCH so gyp does
// not search again.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const HEADER = 'ATen/ATen.h';
const API_INCLUDE = join('torch', 'csrc', 'api', 'include');
// 2.x keeps the version macros in torch/headeronly/version.h; 1.x in the C++ API's torch/version.h
const VERSION_HEADERS = [join('torch', 'headeronly', 'version.h'), join(API_INCLUDE, 'torch', 'version.h')];
const MIN_CXX_STD = 17;

function libNames(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function hasLib(dir, name) {
  return libNames(dir).some((f) => f === `lib${name}.so` || f === `lib${name}.dylib` || f.startsWith(`lib${name}.so.`));
}

function readText(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** libstdc++'s dual ABI: a prebuilt libtorch may use the old one, and the addon must match it. */
function cxx11AbiOf(libDir) {
  const file = libNames(libDir).find((f) => /^libc10\.(so|dylib)/.test(f));
  if (!file) return null;
  try {
    return readFileSync(join(libDir, file)).includes('cxx11') ? 1 : 0;
  } catch {
    return null;
  }
}

/** "major.minor.patch" from the headers' TORCH_VERSION_* macros, or null. */
export function versionOf(includeRoot) {
  for (const header of VERSION_HEADERS) {
    const text = readText(join(includeRoot, header));
    if (!text) continue;
    const part = (name) => text.match(new RegExp(`#define\\s+TORCH_VERSION_${name}\\s+(\\d+)`))?.[1];
    const [major, minor, patch] = [part('MAJOR'), part('MINOR'), part('PATCH')];
    if (major !== undefined && minor !== undefined) return `${major}.${minor}.${patch ?? 0}`;
  }
  return null;
}

/** The C++ standard libtorch's CMake config compiles its users with (Debian: lib/cmake; pip and unpacked: share/cmake), at least C++17. */
function cxxStdOf(includeRoot, libDir) {
  for (const dir of [join(libDir, 'cmake', 'Torch'), join(dirname(includeRoot), 'share', 'cmake', 'Torch')]) {
    const std = readText(join(dir, 'TorchConfig.cmake'))?.match(/CXX_STANDARD\s+(\d+)/)?.[1];
    if (std) return Math.max(MIN_CXX_STD, Number(std));
  }
  return MIN_CXX_STD;
}

/** Orders "a.b.c" versions; an unknown version sorts below every known one. */
export function compareVersions(a, b) {
  const parts = (v) => (v ? v.split('.').map(Number) : [-1]);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function candidate(source, includeRoot, libDir, abi) {
  if (!existsSync(join(includeRoot, HEADER)) || !existsSync(join(includeRoot, API_INCLUDE))) {
    return { ok: false, source, why: `no headers under ${includeRoot}` };
  }
  for (const lib of ['torch', 'torch_cpu', 'c10']) {
    if (!hasLib(libDir, lib)) return { ok: false, source, why: `no lib${lib} in ${libDir}` };
  }
  return {
    ok: true,
    source,
    version: versionOf(includeRoot),
    include: [includeRoot, join(includeRoot, API_INCLUDE)],
    lib: libDir,
    cxx11Abi: abi ?? cxx11AbiOf(libDir),
    cxxStd: cxxStdOf(includeRoot, libDir),
  };
}

function fromDir(dir, from) {
  return candidate(`${from}=${dir}`, join(dir, 'include'), join(dir, 'lib'));
}

function systemLibDirs() {
  const dirs = ['/usr/lib', '/usr/local/lib'];
  for (const base of ['/usr/lib', '/usr/lib64']) {
    for (const d of libNames(base)) if (/-linux-gnu/.test(d)) dirs.push(join(base, d));
  }
  return dirs;
}

function fromSystem() {
  const found = [];
  for (const root of ['/usr/include', '/usr/local/include']) {
    if (!existsSync(join(root, HEADER))) continue;
    const lib = systemLibDirs().find((d) => hasLib(d, 'torch_cpu'));
    if (lib) found.push(candidate(`system (${root})`, root, lib));
  }
  return found;
}

function fromPythons() {
  const script = 'import os, torch; print(os.path.dirname(torch.__file__)); print(int(torch._C._GLIBCXX_USE_CXX11_ABI))';
  const found = [];
  const seen = new Set();
  for (const python of [...new Set([process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean))]) {
    let out;
    try {
      out = execFileSync(python, ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
    } catch {
      continue; // no torch for this interpreter
    }
    const [dir, abi] = out.trim().split('\n');
    if (!dir || seen.has(dir)) continue;
    seen.add(dir);
    found.push(candidate(`PyTorch of ${python} (${dir})`, join(dir, 'include'), join(dir, 'lib'), Number(abi)));
  }
  return found;
}

function summary(c) {
  return c.ok ? { source: c.source, version: c.version } : { source: c.source, why: c.why };
}

/**
 * The libtorch to build against: { ok: true, source, version, include, lib, cxx11Abi, cxxStd,
 * reason, candidates } or { ok: false, why }. `dir` is an explicit choice (build.mjs
 * --libtorch-dir); LIBTORCH_DIR is the same from the environment.
 */
export function locateLibtorch({ dir, dirFrom = '--libtorch-dir' } = {}) {
  if (process.env.CURL_LIBTORCH) return JSON.parse(process.env.CURL_LIBTORCH);
  const explicit = dir ? fromDir(dir, dirFrom) : process.env.LIBTORCH_DIR ? fromDir(process.env.LIBTORCH_DIR, 'LIBTORCH_DIR') : null;
  // an explicit libtorch that does not hold one is the user's mistake to hear about, not to work around
  if (explicit) {
    if (!explicit.ok) return { ok: false, why: `${explicit.source}: ${explicit.why}` };
    return { ...explicit, reason: `named by ${explicit.source.split('=')[0]}`, candidates: [summary(explicit)] };
  }
  const all = [...fromSystem(), ...fromPythons()];
  const usable = all.filter((c) => c.ok);
  if (usable.length === 0) {
    return {
      ok: false,
      why: all.length ? all.map((c) => `${c.source}: ${c.why}`).join('; ') : 'none found (LIBTORCH_DIR unset, no system libtorch, no python3 with torch)',
    };
  }
  // the first of the newest: on a tie the system's, which the search lists first
  const chosen = usable.reduce((best, c) => (compareVersions(c.version, best.version) > 0 ? c : best));
  const reason = usable.length === 1 ? 'the only libtorch found' : `the newest of the ${usable.length} libtorches found`;
  return { ...chosen, reason, candidates: all.map(summary) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const found = locateLibtorch();
  const mode = process.argv[2] ?? '--json';
  if (mode === '--json') {
    console.log(JSON.stringify(found));
  } else if (!found.ok) {
    console.error(`libtorch not found: ${found.why}`);
    process.exit(1);
  } else if (mode === '--gyp-include') {
    console.log(found.include.join(' '));
  } else if (mode === '--gyp-libs') {
    // rpath: the addon finds libtorch where it was built against, with no LD_LIBRARY_PATH
    console.log(`-L${found.lib} -ltorch -ltorch_cpu -lc10 -Wl,-rpath,${found.lib}`);
  } else if (mode === '--gyp-defines') {
    console.log(found.cxx11Abi === null || found.cxx11Abi === undefined ? '' : `_GLIBCXX_USE_CXX11_ABI=${found.cxx11Abi}`);
  } else if (mode === '--gyp-std') {
    console.log(`c++${found.cxxStd ?? MIN_CXX_STD}`);
  } else {
    console.error(`locate-libtorch: unknown mode ${mode}`);
    process.exit(2);
  }
}

#!/usr/bin/env node
// Finds a libtorch to build the conv engine against, in this order:
//   1. LIBTORCH_DIR (an unpacked libtorch, or any dir with include/ and lib/),
//   2. the system's (Debian/Ubuntu `libtorch-dev`),
//   3. the libtorch inside a Python installation of PyTorch (`python3 -c "import torch"`).
// Prints JSON (--json) or the flags binding.gyp asks for (--gyp-include, --gyp-libs, --gyp-defines).
// The build script passes its finding in CURL_LIBTORCH so gyp does not search again.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const HEADER = 'ATen/ATen.h';
const API_INCLUDE = join('torch', 'csrc', 'api', 'include');

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

function candidate(source, includeRoot, libDir, abi) {
  if (!existsSync(join(includeRoot, HEADER)) || !existsSync(join(includeRoot, API_INCLUDE))) {
    return { ok: false, source, why: `no headers under ${includeRoot}` };
  }
  for (const lib of ['torch', 'torch_cpu', 'c10']) {
    if (!hasLib(libDir, lib)) return { ok: false, source, why: `no lib${lib} in ${libDir}` };
  }
  return { ok: true, source, include: [includeRoot, join(includeRoot, API_INCLUDE)], lib: libDir, cxx11Abi: abi ?? cxx11AbiOf(libDir) };
}

function fromEnvDir() {
  const dir = process.env.LIBTORCH_DIR;
  if (!dir) return null;
  return candidate(`LIBTORCH_DIR=${dir}`, join(dir, 'include'), join(dir, 'lib'));
}

function systemLibDirs() {
  const dirs = ['/usr/lib', '/usr/local/lib'];
  for (const base of ['/usr/lib', '/usr/lib64']) {
    for (const d of libNames(base)) if (/-linux-gnu/.test(d)) dirs.push(join(base, d));
  }
  return dirs;
}

function fromSystem() {
  for (const root of ['/usr/include', '/usr/local/include']) {
    if (!existsSync(join(root, HEADER))) continue;
    const lib = systemLibDirs().find((d) => hasLib(d, 'torch_cpu'));
    if (lib) return candidate(`system (${root})`, root, lib);
  }
  return null;
}

function fromPython() {
  const script = 'import os, torch; print(os.path.dirname(torch.__file__)); print(int(torch._C._GLIBCXX_USE_CXX11_ABI))';
  const tried = [];
  for (const python of [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean)) {
    try {
      const [dir, abi] = execFileSync(python, ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 })
        .trim()
        .split('\n');
      const c = candidate(`PyTorch of ${python} (${dir})`, join(dir, 'include'), join(dir, 'lib'), Number(abi));
      if (c.ok) return c;
      tried.push(c);
    } catch {
      // no torch for this interpreter
    }
  }
  return tried[0] ?? null;
}

export function locateLibtorch() {
  if (process.env.CURL_LIBTORCH) return JSON.parse(process.env.CURL_LIBTORCH);
  const tried = [];
  // an explicit LIBTORCH_DIR that does not hold a libtorch is the user's mistake to hear about, not to work around
  const explicit = fromEnvDir();
  if (explicit) return explicit.ok ? explicit : { ok: false, why: `${explicit.source}: ${explicit.why}` };
  for (const find of [fromSystem, fromPython]) {
    const c = find();
    if (!c) continue;
    if (c.ok) return c;
    tried.push(`${c.source}: ${c.why}`);
  }
  return { ok: false, why: tried.length ? tried.join('; ') : 'none found (LIBTORCH_DIR unset, no system libtorch, no python3 with torch)' };
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
  } else {
    console.error(`locate-libtorch: unknown mode ${mode}`);
    process.exit(2);
  }
}

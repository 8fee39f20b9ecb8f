#!/usr/bin/env node
// Builds the libtorch conv engine (agents/native/build/Release/curl_conv.node).
//
//   npm run build:native            build it; fail loudly when it cannot be built
//   node agents/native/build.mjs --optional
//                                   what `npm ci` runs: build when a libtorch is found,
//                                   otherwise say once that the wasm engine will be used
//   node agents/native/build.mjs --libtorch-dir DIR --out OUT
//                                   a second build against the libtorch in DIR (its include/
//                                   and lib/, e.g. a pip-installed torch package's folder),
//                                   into OUT/build/Release/curl_conv.node; CURL_RL_CONV_ADDON
//                                   points a run or the tests at it
//
// libtorch.json beside the addon records which libtorch it was built against, from where, why
// that one, and every candidate found (`npx curl-rl info` prints it).
//
// Offline: node-gyp comes with npm, Node's headers come with Node, libtorch from
// the system, LIBTORCH_DIR or a Python PyTorch (see locate-libtorch.mjs).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BUILD_HINT } from './install-hint.mjs';
import { locateLibtorch } from './locate-libtorch.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const USAGE = `usage: node agents/native/build.mjs [--optional] [--libtorch-dir DIR --out OUT]
  --optional          build when a libtorch is found, else say that the tfjs engine will be used and exit 0 (what npm ci runs)
  --libtorch-dir DIR  build against the libtorch in DIR (its include/ and lib/, e.g. a pip torch package's folder)
  --out OUT           put that build in OUT/build/Release/curl_conv.node (point CURL_RL_CONV_ADDON at it)`;
let flags;
try {
  ({ values: flags } = parseArgs({
    options: { optional: { type: 'boolean', default: false }, 'libtorch-dir': { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    strict: true,
  }));
} catch (error) {
  console.error(`curl-rl: ${error.message}\n${USAGE}`);
  process.exit(2);
}
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
const optional = flags.optional;

function say(line) {
  console.log(`curl-rl: ${line}`);
}

function giveUp(reason) {
  if (optional) {
    say(`native conv engine not built (${reason}); training will run its convs on the tfjs engine (wasm: about 4x slower per update on CPU). ${BUILD_HINT}`);
    process.exit(0);
  }
  console.error(`curl-rl: cannot build the native conv engine: ${reason}. ${BUILD_HINT}`);
  process.exit(1);
}

if (process.env.CURL_RL_SKIP_NATIVE === '1') giveUp('CURL_RL_SKIP_NATIVE=1');

const found = locateLibtorch(flags['libtorch-dir'] ? { dir: resolve(flags['libtorch-dir']) } : {});
if (!found.ok) giveUp(`no libtorch: ${found.why}`);

/** node-gyp ships inside npm; under an npm script npm names it for us. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c && existsSync(c));
}

/** Node's own headers, so node-gyp never tries to download them. */
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const root = join(dirname(process.execPath), '..');
  return existsSync(join(root, 'include', 'node', 'node_api.h')) ? root : undefined;
}

/**
 * The folder node-gyp builds in (it always builds into <folder>/build): this one, or --out with
 * binding.gyp reading locate-libtorch.mjs from here and a conv_engine.cc that includes this one
 * (gyp places the object of a source outside the project folder outside the build folder too).
 */
function projectDir() {
  if (!flags.out) return here;
  const out = resolve(flags.out);
  mkdirSync(out, { recursive: true });
  const gyp = JSON.parse(readFileSync(join(here, 'binding.gyp'), 'utf8'));
  gyp.variables['native_dir%'] = here;
  writeFileSync(join(out, 'binding.gyp'), `${JSON.stringify(gyp, null, 2)}\n`);
  writeFileSync(join(out, 'conv_engine.cc'), `// The engine's one source, built here by build.mjs --out.\n#include ${JSON.stringify(join(here, 'conv_engine.cc'))}\n`);
  return out;
}

const gyp = nodeGyp();
if (!gyp) giveUp('node-gyp was not found (it ships with npm)');
const project = projectDir();
const args = [gyp, 'rebuild', `--directory=${project}`, '--jobs=max'];
const nodedir = nodeDir();
if (nodedir) args.push(`--nodedir=${nodedir}`);

say(`building the native conv engine against libtorch ${found.version ?? '(version unknown)'} from ${found.source}, ${found.reason} (about a minute)...`);
const started = Date.now();
const result = spawnSync(process.execPath, args, {
  cwd: project,
  env: { ...process.env, CURL_LIBTORCH: JSON.stringify(found) },
  stdio: optional ? ['ignore', 'pipe', 'pipe'] : 'inherit',
  encoding: 'utf8',
});
if (result.status !== 0) {
  if (optional) process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n').slice(-40).join('\n'));
  giveUp(`node-gyp failed (exit ${result.status ?? result.signal})`);
}

// a library that links but does not load (a libtorch moved since, an ABI mismatch) is caught here, not mid-run
const addon = join(project, 'build', 'Release', 'curl_conv.node');
const check = spawnSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(addon)}).info()))`], { encoding: 'utf8' });
if (check.status !== 0) giveUp(`the built addon does not load: ${check.stderr.trim().split('\n').slice(-3).join(' ')}`);
const info = JSON.parse(check.stdout);
const { ok: _ok, ...record } = found;
writeFileSync(join(dirname(addon), 'libtorch.json'), `${JSON.stringify(record, null, 2)}\n`);
say(
  `native conv engine built in ${Math.round((Date.now() - started) / 1000)} s: libtorch ${info.torchVersion}, oneDNN ${info.mkldnn ? 'yes' : 'no'}, ` +
    `bf16 ${info.bf16} (${addon})`,
);

#!/usr/bin/env node
// Builds the libtorch conv engine (agents/native/build/Release/curl_conv.node).
//
//   npm run build:native            build it; fail loudly when it cannot be built
//   node agents/native/build.mjs --optional
//                                   what `npm ci` runs: build when a libtorch is found,
//                                   otherwise say once that the wasm engine will be used
//
// Offline: node-gyp comes with npm, Node's headers come with Node, libtorch from
// the system, LIBTORCH_DIR or a Python PyTorch (see locate-libtorch.mjs).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateLibtorch } from './locate-libtorch.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const optional = process.argv.includes('--optional');
const HOW =
  'To get it: install libtorch (Debian/Ubuntu: `sudo apt-get install libtorch-dev`; elsewhere set LIBTORCH_DIR to an unpacked ' +
  'libtorch, or have a `python3` that can `import torch`), then run `npm run build:native`.';

function say(line) {
  console.log(`curl-rl: ${line}`);
}

function giveUp(reason) {
  if (optional) {
    say(`native conv engine not built (${reason}); training will run its convs on the tfjs engine (wasm: about 4x slower per update on CPU). ${HOW}`);
    process.exit(0);
  }
  console.error(`curl-rl: cannot build the native conv engine: ${reason}. ${HOW}`);
  process.exit(1);
}

if (process.env.CURL_RL_SKIP_NATIVE === '1') giveUp('CURL_RL_SKIP_NATIVE=1');

const found = locateLibtorch();
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

const gyp = nodeGyp();
if (!gyp) giveUp('node-gyp was not found (it ships with npm)');
const args = [gyp, 'rebuild', `--directory=${here}`, '--jobs=max'];
const nodedir = nodeDir();
if (nodedir) args.push(`--nodedir=${nodedir}`);

say(`building the native conv engine against libtorch from ${found.source} (about a minute)...`);
const started = Date.now();
const result = spawnSync(process.execPath, args, {
  cwd: here,
  env: { ...process.env, CURL_LIBTORCH: JSON.stringify(found) },
  stdio: optional ? ['ignore', 'pipe', 'pipe'] : 'inherit',
  encoding: 'utf8',
});
if (result.status !== 0) {
  if (optional) process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n').slice(-40).join('\n'));
  giveUp(`node-gyp failed (exit ${result.status ?? result.signal})`);
}

// a library that links but does not load (a libtorch moved since, an ABI mismatch) is caught here, not mid-run
const addon = join(here, 'build', 'Release', 'curl_conv.node');
const check = spawnSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(addon)}).info()))`], { encoding: 'utf8' });
if (check.status !== 0) giveUp(`the built addon does not load: ${check.stderr.trim().split('\n').slice(-3).join(' ')}`);
const info = JSON.parse(check.stdout);
say(`native conv engine built in ${Math.round((Date.now() - started) / 1000)} s: libtorch ${info.torchVersion}, oneDNN ${info.mkldnn ? 'yes' : 'no'} (${addon})`);

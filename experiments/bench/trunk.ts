/*
 * The encoder trunk's forward + backward on the native engine, as an update's anchor pass and
 * its backward run them: the 4 convs (32 filters) and the critic's 50-wide dense head on
 * 84x84x9 frames, the paper's sizes, at batch 128; in fp32 and bf16, on each libtorch build
 * given. A pass converts its weights (the head too: its values change every update). One JSON
 * line per (build, precision): median ms of forward + backward after warm-up, and each alone.
 *
 *   npm run bench -- trunk
 *   npm run bench -- trunk --addon agents/native/build/Release/curl_conv.node,/tmp/torch2/build/Release/curl_conv.node
 *
 * Flags: --batch-size 128  --precision fp32,bf16  --iters 5  --warmup 2  --threads N (default: the cores)
 *        --addon PATH,... (addon builds, each timed in its own process, since two libtorches
 *        cannot share one; default: the one a run loads, CURL_RL_CONV_ADDON or the build's)
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { addonPath, loadConvAddon, precisions } from '../../agents/native/addon.js';
import type { NativeConvEngine, Precision } from '../../agents/native/addon.js';
import { libtorchThreads } from '../../src/conv-engine.js';
import { Rng } from '../../src/core/rng.js';
import { ConfigError } from '../../src/core/errors.js';


const SIDE = 84;
const CHANNELS = 9;
const LAYERS = 4;
const FILTERS = 32;
const LATENT = 50;

/** Multiply-adds x 2 of one forward + backward: every layer's filter gradient, every input gradient but the pixels'. */
function passFlops(rows: number): number {
  let side = Math.floor((SIDE - 3) / 2) + 1;
  let cin = CHANNELS;
  const layer: number[] = [];
  for (let l = 0; l < LAYERS; l++) {
    if (l > 0) side -= 2;
    layer.push(2 * side * side * FILTERS * cin * 9);
    cin = FILTERS;
  }
  const forward = layer.reduce((a, x) => a + x, 0);
  const backward = forward + layer.slice(1).reduce((a, x) => a + x, 0);
  const head = 2 * side * side * FILTERS * LATENT;
  return rows * (forward + backward + 3 * head);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const round = (x: number) => Math.round(x * 10) / 10;

async function timeEngine(engine: NativeConvEngine, rows: number, iters: number, warmup: number) {
  const rng = new Rng(7);
  const normal = (n: number, std: number) => Float32Array.from({ length: n }, () => rng.normal() * std);
  const w: Float32Array[] = [];
  const b: Float32Array[] = [];
  for (let l = 0; l < LAYERS; l++) {
    const cin = l === 0 ? CHANNELS : FILTERS;
    w.push(normal(9 * cin * FILTERS, Math.sqrt(2 / (9 * cin))));
    b.push(normal(FILTERS, 0.05));
  }
  const features = 35 * 35 * FILTERS;
  const head = { w: normal(features * LATENT, Math.sqrt(1 / features)), b: normal(LATENT, 0.05) };
  const dOut = normal(rows * LATENT, 1);
  const obs = new Uint8Array(rows * SIDE * SIDE * CHANNELS);
  for (let i = 0; i < obs.length; i++) obs[i] = rng.int(256);
  engine.load({ obs }, rows);
  const forward: number[] = [];
  const backward: number[] = [];
  for (let i = 0; i < warmup + iters; i++) {
    const t0 = performance.now();
    const prepared = engine.prepareHead(head);
    await engine.forward('obs', w, b, [prepared], 'anchor');
    const t1 = performance.now();
    await engine.backward('anchor', w, b, prepared, dOut, true);
    const t2 = performance.now();
    if (i >= warmup) {
      forward.push(t1 - t0);
      backward.push(t2 - t1);
    }
  }
  engine.release();
  const total = forward.map((f, i) => f + backward[i]!);
  return { medianMs: round(median(total)), minMs: round(Math.min(...total)), forwardMs: round(median(forward)), backwardMs: round(median(backward)), seconds: median(total) / 1000 };
}

/** Times the addon this process loads, one line per precision. */
async function benchLoaded(rows: number, precisionList: Precision[], iters: number, warmup: number, threads: number): Promise<void> {
  const addon = loadConvAddon();
  if (!addon.available) throw new Error(`bench trunk: ${addon.reason}`);
  for (const precision of precisionList) {
    const engine = new addon.binding.ConvEngine({ height: SIDE, width: SIDE, channels: CHANNELS, layers: LAYERS, filters: FILTERS, threads, precision });
    const { seconds, ...times } = await timeEngine(engine, rows, iters, warmup);
    const flops = passFlops(rows);
    console.log(JSON.stringify({
      bench: 'trunk', torchVersion: addon.info.torchVersion, bf16: addon.info.bf16, addon: addon.path, precision,
      batchSize: rows, threads, iters, ...times,
      gflopPerPass: Math.round(flops / 1e7) / 100, gflops: Math.round((flops / 1e9 / seconds) * 10) / 10, loadavg1: Math.round(loadavg()[0]! * 100) / 100,
    }));
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'batch-size': { type: 'string', default: '128' },
      precision: { type: 'string', default: precisions.join(',') },
      iters: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      threads: { type: 'string' },
      addon: { type: 'string' },
    },
    strict: true,
  });
  const rows = Number(values['batch-size']);
  const iters = Number(values.iters);
  const warmup = Number(values.warmup);
  const threads = values.threads === undefined ? libtorchThreads(undefined) : Number(values.threads);
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(iters) || iters < 1 || !Number.isInteger(warmup) || warmup < 0 || !Number.isInteger(threads) || threads < 1) {
    throw new ConfigError('bench trunk: --batch-size (>= 1), --iters (>= 1), --warmup (>= 0) and --threads (>= 1) must be integers');
  }
  const precisionList = String(values.precision).split(',');
  for (const p of precisionList) {
    if (!(precisions as readonly string[]).includes(p)) throw new ConfigError(`bench trunk: --precision must be a comma list of ${precisions.join(', ')}; got '${p}'`);
  }
  const addons = values.addon ? values.addon.split(',').map((p) => resolve(p)) : [addonPath()];
  if (addons.length === 1 && addons[0] === addonPath()) {
    await benchLoaded(rows, precisionList as Precision[], iters, warmup, threads);
    return;
  }
  // each build in a process of its own, which loads only it
  const bin = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
  for (const addon of addons) {
    const args = [bin, 'bench', 'trunk', '--batch-size', String(rows), '--precision', precisionList.join(','), '--iters', String(iters), '--warmup', String(warmup), '--threads', String(threads)];
    const r = spawnSync(process.execPath, args, { env: { ...process.env, CURL_RL_CONV_ADDON: addon }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`bench trunk: the run on ${addon} failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
    for (const line of r.stdout.split('\n')) if (line.trim()) console.log(line);
  }
}

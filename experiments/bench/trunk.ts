/*
 * The encoder trunk's forward + backward on the native engine, as an update's anchor pass and
 * its backward run them: the 4 convs (32 filters) and the critic's 50-wide dense head on
 * 84x84x9 frames, the paper's sizes, at batch 128; in fp32 and bf16, on each libtorch build
 * given. A pass converts its weights (the head too: its values change every update). One JSON
 * line per (build, precision): median ms of forward + backward after warm-up, and each alone.
 * --compare-pytorch times the same trunk in PyTorch after ours (experiments/bench/pytorch_trunk.py:
 * its module and pixels in each precision, channels_last, on the same threads) and prints ours
 * against it and each one's bf16 against its fp32: what oneDNN's kernels give on this CPU.
 *
 *   npm run bench -- trunk
 *   npm run bench -- trunk --addon agents/native/build/Release/curl_conv.node,/tmp/torch2/build/Release/curl_conv.node
 *   PYTHON=<python with torch> npm run bench -- trunk --compare-pytorch
 *
 * Flags: --batch-size 128  --precision fp32,bf16  --iters 5  --warmup 2  --threads N (default: the cores)
 *        --addon PATH,... (addon builds, each timed in its own process, since two libtorches
 *        cannot share one; default: the one a run loads, CURL_RL_CONV_ADDON or the build's)
 *        --compare-pytorch (needs a python3 with torch: PYTHON, the PATH's or the system's)
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
import { pythonWithTorch } from './lib/python-torch.js';


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

type TrunkLine = { addon?: string; precision: string; medianMs: number } & Record<string, unknown>;

/** Times the addon this process loads, one line per precision. */
async function benchLoaded(rows: number, precisionList: Precision[], iters: number, warmup: number, threads: number): Promise<TrunkLine[]> {
  const addon = loadConvAddon();
  if (!addon.available) throw new Error(`bench trunk: ${addon.reason}`);
  const lines: TrunkLine[] = [];
  for (const precision of precisionList) {
    const engine = new addon.binding.ConvEngine({ height: SIDE, width: SIDE, channels: CHANNELS, layers: LAYERS, filters: FILTERS, threads, precision });
    const { seconds, ...times } = await timeEngine(engine, rows, iters, warmup);
    const flops = passFlops(rows);
    lines.push({
      bench: 'trunk', torchVersion: addon.info.torchVersion, bf16: addon.info.bf16, addon: addon.path, precision, firstFilterGradient: engine.firstFilterGradient,
      batchSize: rows, threads, iters, ...times,
      gflopPerPass: Math.round(flops / 1e7) / 100, gflops: Math.round((flops / 1e9 / seconds) * 10) / 10, loadavg1: Math.round(loadavg()[0]! * 100) / 100,
    });
  }
  return lines;
}

/** The same trunk in PyTorch (pytorch_trunk.py), one line per precision. */
function benchPytorch(rows: number, precisionList: string[], iters: number, warmup: number, threads: number): TrunkLine[] {
  const script = fileURLToPath(new URL('./pytorch_trunk.py', import.meta.url));
  const args = [script, '--batch-size', String(rows), '--precision', precisionList.join(','), '--iters', String(iters), '--warmup', String(warmup), '--threads', String(threads)];
  const r = spawnSync(pythonWithTorch('bench trunk --compare-pytorch'), args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench trunk --compare-pytorch: ${script} failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return r.stdout.split('\n').filter((l) => l.trim()).map((l) => ({ ...(JSON.parse(l) as TrunkLine), loadavg1: Math.round(loadavg()[0]! * 100) / 100 }));
}

/** Ours against PyTorch at each precision, and each one's bf16 against its own fp32. */
function ratioLines(ours: TrunkLine[], pytorch: TrunkLine[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  for (const line of ours) {
    const theirs = pytorch.find((p) => p.precision === line.precision);
    if (theirs) out.push({ bench: 'trunk-ratio', of: 'ours / pytorch', addon: line.addon, precision: line.precision, ratio: ratio(line.medianMs, theirs.medianMs) });
  }
  const byImpl = new Map<string, TrunkLine[]>();
  for (const line of [...ours, ...pytorch]) {
    const impl = line.addon ?? `pytorch ${String(line.torch)}`;
    byImpl.set(impl, [...(byImpl.get(impl) ?? []), line]);
  }
  for (const [impl, lines] of byImpl) {
    const fp32 = lines.find((l) => l.precision === 'fp32');
    const bf16 = lines.find((l) => l.precision === 'bf16');
    if (fp32 && bf16) out.push({ bench: 'trunk-ratio', of: 'bf16 / fp32', impl, ratio: ratio(bf16.medianMs, fp32.medianMs) });
  }
  return out;
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
      'compare-pytorch': { type: 'boolean', default: false },
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
  const print = (lines: object[]) => {
    for (const line of lines) console.log(JSON.stringify(line));
  };
  const addons = values.addon ? values.addon.split(',').map((p) => resolve(p)) : [addonPath()];
  const ours: TrunkLine[] = [];
  if (addons.length === 1 && addons[0] === addonPath()) {
    ours.push(...(await benchLoaded(rows, precisionList as Precision[], iters, warmup, threads)));
    print(ours);
  } else {
    // each build in a process of its own, which loads only it
    const bin = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
    for (const addon of addons) {
      const args = [bin, 'bench', 'trunk', '--batch-size', String(rows), '--precision', precisionList.join(','), '--iters', String(iters), '--warmup', String(warmup), '--threads', String(threads)];
      const r = spawnSync(process.execPath, args, { env: { ...process.env, CURL_RL_CONV_ADDON: addon }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      if (r.status !== 0) throw new Error(`bench trunk: the run on ${addon} failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
      const lines = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as TrunkLine);
      print(lines);
      ours.push(...lines);
    }
  }
  if (!values['compare-pytorch']) return;
  const pytorch = benchPytorch(rows, precisionList, iters, warmup, threads);
  print(pytorch);
  print(ratioLines(ours, pytorch));
}

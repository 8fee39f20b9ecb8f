/*
 * Throughput of one agent update (SAC + optional CURL) on 84x84x9 crops with
 * a 6-d action, the DMC setting. Prints one JSON line per (aux, batch size):
 * median ms per update after warm-up, the FLOPs counted per update, GFLOP/s.
 *
 *   npm run bench -- update --batch-size 128 --aux both --iters 5
 *   npm run bench -- update --batch-size 32 --aux simclr,byol,barlow --iters 3
 *   npm run bench -- update --aux all --aux-queue 1024     (the queue applies to the CURL family and MoCHi)
 *   npm run bench -- update --batch-size 128,512 --aux both --compare-pytorch
 *   npm run bench -- update --batch-size 128 --aux curl --aug-k 1,2 --aug-m 1,2
 *   npm run bench -- update --batch-size 128 --aux curl --precision bf16 --breakdown
 *
 * --compare-pytorch times the same update in PyTorch on the same machine right
 * after each of ours (same batch, aux, iterations and thread count), three
 * ways: the authors' NCHW code, channels_last (PyTorch's fastest fp32 layout
 * on CPU) and channels_last under bf16 autocast; and prints the ratio ours /
 * PyTorch for each.
 *
 * --breakdown (libtorch engine) adds each stage's mean split into the time with
 * a call into the addon in flight and the time of the JS thread alone (tfjs
 * ops, copies, glue), and the mean calls and milliseconds per update of each
 * addon method (experiments/bench/lib/native-timing.ts). The timing wrapper
 * costs microseconds per call; compare a breakdown with a breakdown.
 *
 * Flags: --batch-size 128 (comma list)  --aux curl|none|both|all or a comma list of --aux names (both)
 *        --aux-queue K (the key queue of the CURL family and MoCHi; 0)  --iters 5  --warmup 2
 *        --backend auto|wasm|cpu|...  --conv-engine auto|libtorch|tfjs  --conv-workers N
 *        --precision fp32 (comma list of fp32, bf16, auto: the libtorch engine's trunk; one JSON line each)
 *        --heads tfjs,libtorch (comma list: where the MLP heads, Adam and the EMA run; the conv engine's by default)
 *        --micro-batch N  --aug-k 1 / --aug-m 1 (comma lists: DrQ's K next_obs views for the
 *        target and M obs views for the Q loss; one JSON line per (aux, batch, K, M))  --compare-pytorch  --json (accepted; output is always JSON lines).
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { agentFeatureDim, defaultConvWorkers } from '../../agents/index.js';
import { createAgent } from '../../src/agent.js';
import type { AgentBuildConfig } from '../../src/agent.js';
import type { AgentConfig, AgentSpec } from '../../agents/index.js';
import type { Batch } from '../../replay/types.js';
import { backendNames, type BackendName } from '../../src/core/backend-names.js';
import { MAX_COUNT, convEngineNames, defaultConfig, precisionNames } from '../../src/config/schema.js';
import { libtorchThreads, resolveConvEngine, resolvePrecision } from '../../src/conv-engine.js';
import type { ConvEngineRequest, PrecisionRequest } from '../../src/conv-engine.js';
import { initBackend } from '../../src/backend.js';
import { auxObjective } from '../../agents/aux/registry.js';
import { auxNames } from '../../src/config/schema.js';
import type { AuxName } from '../../src/config/schema.js';
import { auxFlops } from './lib/aux-flops.js';
import { NativeCallTimer, stageBreakdown, timeNativeCalls, type CallTotals, type StageBreakdown } from './lib/native-timing.js';
import { pythonWithTorch } from './lib/python-torch.js';
import { Rng } from '../../src/core/rng.js';
import { ConfigError } from '../../src/core/errors.js';
import { parseCount, schemaRange } from '../../src/cli/config-flags.js';
import { capConvWorkers } from '../../src/loop/trainer.js';

const SIZE = 84;
const CHANNELS = 9;
const ACTION_DIM = 6;

async function selectBackend(name: string): Promise<string> {
  if (!(backendNames as readonly string[]).includes(name)) {
    throw new ConfigError(`bench update: --backend must be one of ${backendNames.join(', ')}, got '${name}'`);
  }
  return (await initBackend(name as BackendName)).name;
}

function randomBatch(rng: Rng, b: number, k = 1, m = 1): Batch {
  const img = (views = 1) => {
    const u = new Uint8Array(views * b * SIZE * SIZE * CHANNELS);
    for (let i = 0; i < u.length; i++) u[i] = rng.int(256);
    return u;
  };
  return {
    batchSize: b, size: SIZE, channels: CHANNELS, actionDim: ACTION_DIM,
    obs: img(m), obsPositive: img(), nextObs: img(k),
    ...(m > 1 ? { obsViews: m } : {}), ...(k > 1 ? { nextViews: k } : {}),
    action: new Float32Array(b * ACTION_DIM).map(() => rng.uniform() * 2 - 1),
    reward: new Float32Array(b).map(() => rng.uniform()),
    notDone: new Float32Array(b).fill(1),
    // replay indices (memory-bank's bank keys); rows 0..b-1 as if drawn from a full buffer
    indices: Float64Array.from({ length: b }, (_, i) => i),
  };
}

/**
 * Multiply-adds x 2 of the convs and dense layers one update runs, averaged
 * over the actor schedule (elementwise ops, LayerNorm and Adam are ignored).
 * With K next views and M obs views (DrQ): the target passes run on K x B
 * rows; the anchor pass and its backward on M x B; the actor's and CURL's
 * conv passes also run on all M x B rows (the trunk holds one row count per
 * load, so the positive is repeated M times and view 0's gradient is padded
 * with zero rows), while their MLPs and logits see B rows.
 */
export function updateFlops(cfg: AgentConfig, spec: AgentSpec, b: number, views: { k: number; m: number } = { k: 1, m: 1 }): { total: number; conv: number } {
  const { k: K, m: M } = views;
  const k2 = 9;
  let side = Math.floor((spec.obsShape[0] - 3) / 2) + 1;
  let cin = spec.obsShape[2];
  const layer: number[] = [];
  for (let l = 0; l < cfg.numConvLayers; l++) {
    if (l > 0) side -= 2;
    layer.push(2 * side * side * cfg.numFilters * cin * k2);
    cin = cfg.numFilters;
  }
  const convFwd = layer.reduce((a, x) => a + x, 0);
  const convBwd = convFwd + layer.slice(1).reduce((a, x) => a + x, 0); // filter grads + input grads (not layer 0's)
  const F = agentFeatureDim(cfg, spec);
  const { latentDim: Lt, hiddenDim: H } = cfg;
  const A = spec.actionDim;
  const head = 2 * F * Lt;
  const q = 2 * ((Lt + A) * H + H * H + H);
  const actor = 2 * (Lt * H + H * H + H * 2 * A);
  const pActor = 1 / cfg.actorUpdateFreq;
  let conv = K * 2 * convFwd + M * (convFwd + convBwd); // next (online, target), anchor fwd + bwd
  let dense = K * (head + actor + head + 2 * q); // critic target
  dense += M * 3 * (head + 2 * q); // critic fwd + bwd
  conv += pActor * M * convFwd;
  dense += pActor * (M * 2 * head + 3 * (actor + 2 * q)); // actor head fwd; critic head fwd; actor+Q fwd/bwd
  const aux = auxFlops(cfg, b, { convFwd, convBwd, head }, M); // already totals over the batch (agents/aux)
  return { total: b * (conv + dense) + aux.conv + aux.dense, conv: b * conv + aux.conv };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'batch-size': { type: 'string', default: '128' },
      // both (curl, none), all (every objective), or a comma list of --aux names
      aux: { type: 'string', default: 'both' },
      'aux-queue': { type: 'string', default: '0' },
      backend: { type: 'string', default: 'auto' },
      iters: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      'micro-batch': { type: 'string' },
      'conv-workers': { type: 'string' },
      'conv-engine': { type: 'string', default: 'auto' },
      precision: { type: 'string', default: 'fp32' },
      heads: { type: 'string' },
      // the same update in PyTorch (experiments/bench/pytorch_update.py), run right after each of ours
      'compare-pytorch': { type: 'boolean', default: false },
      // each stage split into addon time and JS-thread time, and the addon's calls (libtorch engine)
      breakdown: { type: 'boolean', default: false },
      // DrQ's K (target views) and M (Q-loss views), comma lists
      'aug-k': { type: 'string', default: '1' },
      'aug-m': { type: 'string', default: '1' },
      // output is always JSON lines; the flag is accepted for the documented command line
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  // Counts are checked against the config field each feeds (a batch the benchmark times is one a run can have), before anything is built.
  const fieldCounts = (flag: string, field: Parameters<typeof schemaRange>[0]): number[] =>
    String(values[flag as keyof typeof values]).split(',').map((part) => parseCount(`bench update: --${flag}`, part, schemaRange(field)));
  const batchSizes = fieldCounts('batch-size', 'batchSize');
  const auxArg = String(values.aux);
  const auxes: string[] = auxArg === 'both' ? ['curl', 'none'] : auxArg === 'all' ? [...auxNames] : auxArg.split(',');
  for (const a of auxes) {
    if (!(auxNames as readonly string[]).includes(a)) throw new ConfigError(`bench update: --aux must be both, all or a comma list of ${auxNames.join(', ')}; got '${a}'`);
    if (values['compare-pytorch'] && a !== 'curl' && a !== 'none') throw new ConfigError(`bench update: --compare-pytorch has a PyTorch update for curl and none only, not '${a}'`);
  }
  const auxQueue = parseCount('bench update: --aux-queue', String(values['aux-queue']), schemaRange('auxQueue'));
  const iters = parseCount('bench update: --iters', String(values.iters), { min: 1, max: MAX_COUNT });
  const warmup = parseCount('bench update: --warmup', String(values.warmup), { min: 0, max: MAX_COUNT });
  const augKs = fieldCounts('aug-k', 'augK');
  const augMs = fieldCounts('aug-m', 'augM');
  const microBatch = values['micro-batch'] !== undefined ? parseCount('bench update: --micro-batch', values['micro-batch'], schemaRange('microBatch')) : undefined;
  const givenWorkers = values['conv-workers'] !== undefined ? parseCount('bench update: --conv-workers', values['conv-workers'], schemaRange('convWorkers')) : undefined;
  const viewPairs = augKs.flatMap((k) => augMs.map((m) => ({ k, m })));
  if (values['compare-pytorch'] && viewPairs.some((v) => v.k > 1 || v.m > 1)) throw new ConfigError('bench update: --compare-pytorch times K = M = 1 only');
  const backend = await selectBackend(String(values.backend));
  const engineRequest = String(values['conv-engine']);
  if (!(convEngineNames as readonly string[]).includes(engineRequest)) {
    throw new ConfigError(`bench update: --conv-engine must be one of ${convEngineNames.join(', ')}, got '${engineRequest}'`);
  }
  const engine = resolveConvEngine(engineRequest as ConvEngineRequest, backend);
  const precisions = String(values.precision).split(',');
  const badPrecision = precisions.find((p) => !(precisionNames as readonly string[]).includes(p));
  if (badPrecision !== undefined) throw new ConfigError(`bench update: --precision must be a comma list of ${precisionNames.join(', ')}, got '${badPrecision}'`);
  // an impossible precision (bf16 on the tfjs engine) is refused before anything is timed
  const resolvedPrecisions = precisions.map((p) => resolvePrecision(p as PrecisionRequest, engine.engine).precision);
  // As train does: more threads than cores only slow an update down (capConvWorkers says so and lowers the count).
  const convWorkers = givenWorkers !== undefined
    ? capConvWorkers(givenWorkers, availableParallelism(), (line) => process.stderr.write(`${line}\n`))
    : engine.engine === 'libtorch' ? libtorchThreads(undefined) - 1 : defaultConvWorkers(backend);
  const heads = values.heads === undefined ? [engine.engine] : String(values.heads).split(',');
  for (const h of heads) {
    if (h !== 'tfjs' && h !== 'libtorch') throw new ConfigError(`bench update: --heads must be a comma list of tfjs, libtorch; got '${h}'`);
    if (h === 'libtorch' && engine.engine !== 'libtorch') throw new ConfigError(`bench update: --heads libtorch needs the libtorch conv engine (${engine.reason})`);
  }
  if (values.breakdown && engine.engine !== 'libtorch') throw new ConfigError(`bench update: --breakdown times the libtorch engine's calls; the engine here is ${engine.engine} (${engine.reason})`);
  const nativeTimer = values.breakdown ? new NativeCallTimer() : null;
  const untime = nativeTimer ? timeNativeCalls(nativeTimer) : null;
  try {
    await runAll();
  } finally {
    untime?.();
  }

  async function runAll(): Promise<void> {
    const base = defaultConfig();
    for (const aux of auxes as AuxName[]) {
      for (const b of batchSizes) for (const views of viewPairs) {
        // every objective that reads the key queue (the CURL family, MoCHi) gets --aux-queue
        const queue = Object.hasOwn(auxObjective(aux).options, 'auxQueue') ? auxQueue : 0;
        const ours: Array<{ precision: string; heads: string; medianMs: number; threads: number }> = [];
        for (const precision of resolvedPrecisions) for (const headEngine of heads as Array<'tfjs' | 'libtorch'>) {
          const cfg: AgentBuildConfig = { ...base, aux, auxQueue: queue, convWorkers, convEngine: engine.engine, precision, headEngine, ...(microBatch !== undefined ? { microBatch } : {}) };
          const spec: AgentSpec = { obsShape: [SIZE, SIZE, CHANNELS], actionDim: ACTION_DIM };
          const agent = createAgent(cfg, spec, 1);
          const rng = new Rng(7);
          const batch = randomBatch(rng, b, views.k, views.m);
          const times: number[] = [];
          const stages: Record<string, number[]> = {};
          const split: Record<string, StageBreakdown> = {};
          const calls: Record<string, CallTotals> = {};
          for (let i = 0; i < warmup + iters; i++) {
            nativeTimer?.reset();
            const t0 = performance.now();
            await agent.update(batch, i);
            const t1 = performance.now();
            if (i >= warmup) {
              times.push(t1 - t0);
              for (const [k, v] of Object.entries(agent.lastStageMs)) (stages[k] ??= []).push(v);
              if (nativeTimer) {
                for (const [k, v] of Object.entries(stageBreakdown(nativeTimer, t0, t1, agent.lastStageMs))) {
                  const sum = (split[k] ??= { ms: 0, nativeMs: 0, jsOnlyMs: 0 });
                  sum.ms += v.ms / iters;
                  sum.nativeMs += v.nativeMs / iters;
                  sum.jsOnlyMs += v.jsOnlyMs / iters;
                }
                for (const [k, v] of Object.entries(nativeTimer.byMethod())) {
                  const sum = (calls[k] ??= { calls: 0, ms: 0 });
                  sum.calls += v.calls / iters;
                  sum.ms += v.ms / iters;
                }
              }
            }
          }
          const { threads } = agent.convEngine;
          agent.dispose();
          times.sort((x, y) => x - y);
          const median = times.length % 2 ? times[(times.length - 1) / 2]! : (times[times.length / 2 - 1]! + times[times.length / 2]!) / 2;
          const flops = updateFlops(cfg, spec, b, views);
          const row = {
            bench: 'update', backend, convEngine: engine.engine, precision, heads: headEngine, aux, ...(queue > 0 ? { auxQueue: queue } : {}), batchSize: b, augK: views.k, augM: views.m, microBatch: cfg.microBatch, convWorkers, threads, iters,
            medianMs: Math.round(median * 10) / 10, minMs: Math.round(times[0]! * 10) / 10,
            gflopPerUpdate: Math.round(flops.total / 1e7) / 100, convGflopPerUpdate: Math.round(flops.conv / 1e7) / 100,
            gflops: Math.round((flops.total / 1e9 / (median / 1000)) * 100) / 100,
            stageMeanMs: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, Math.round(v.reduce((a, x) => a + x, 0) / v.length)])),
            ...(nativeTimer ? { breakdown: roundBreakdown(split, calls) } : {}),
          };
          console.log(JSON.stringify(row));
          ours.push({ precision, heads: headEngine, medianMs: row.medianMs, threads });
        }
        if (values['compare-pytorch']) {
          for (const variant of pytorchVariants) {
            const torch = pytorchUpdate({ aux, batchSize: b, iters, warmup, threads: ours[0]!.threads, variant });
            console.log(JSON.stringify(torch));
            for (const row of ours) {
              console.log(JSON.stringify({
                bench: 'update-vs-pytorch', aux, batchSize: b, convEngine: engine.engine, precision: row.precision, heads: row.heads, threads: row.threads, pytorch: variant,
                oursMs: row.medianMs, pytorchMs: torch.medianMs, ratio: Math.round((row.medianMs / torch.medianMs) * 100) / 100,
              }));
            }
          }
        }
      }
    }
  }
}

/** Mean per update, rounded: each stage's ms split into native and JS-only, and each addon method's calls and ms. */
function roundBreakdown(split: Record<string, StageBreakdown>, calls: Record<string, CallTotals>) {
  const r = (x: number) => Math.round(x * 10) / 10;
  return {
    stages: Object.fromEntries(Object.entries(split).map(([k, v]) => [k, { ms: r(v.ms), nativeMs: r(v.nativeMs), jsOnlyMs: r(v.jsOnlyMs) }])),
    calls: Object.fromEntries(Object.entries(calls).sort((a, b) => b[1].ms - a[1].ms).map(([k, v]) => [k, { calls: r(v.calls), ms: r(v.ms) }])),
  };
}

/**
 * PyTorch's update three ways: the authors' code as written (NCHW), PyTorch's fastest fp32
 * layout on CPU (channels_last), and channels_last with the forward passes under bf16 autocast.
 */
const pytorchVariants = ['nchw', 'channels-last', 'channels-last-bf16'] as const;
type PytorchVariant = (typeof pytorchVariants)[number];

function pytorchUpdate(o: { aux: string; batchSize: number; iters: number; warmup: number; threads: number; variant: PytorchVariant }): { medianMs: number } & Record<string, unknown> {
  const script = fileURLToPath(new URL('./pytorch_update.py', import.meta.url));
  const args = [script, '--aux', o.aux, '--batch-size', String(o.batchSize), '--iters', String(o.iters), '--warmup', String(o.warmup), '--threads', String(o.threads)];
  if (o.variant === 'nchw') args.push('--nchw');
  if (o.variant === 'channels-last-bf16') args.push('--autocast', 'bf16');
  const r = spawnSync(pythonWithTorch('bench update --compare-pytorch'), args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench update --compare-pytorch: ${script} failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { medianMs: number };
}

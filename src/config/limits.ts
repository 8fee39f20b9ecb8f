// What a config asks of the machine, checked before a run creates anything:
// a replay buffer or network that cannot fit fails later as a RangeError, or
// worse, as a machine swapping to a halt. The encoder arithmetic is the
// agent's (agents/conv-size.ts, which loads no tfjs: `config` and `--help`
// must not need it).
import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { auxObjective, resolveAuxOptions } from '../../agents/aux/registry.js';
import { KERNEL, encoderOutputSide } from '../../agents/conv-size.js';
import { ConfigError } from '../core/errors.js';
import type { Config } from './schema.js';

/** Number of float parameters of the agent (agents/params.ts createParams). */
export function agentParamCount(
  config: Pick<Config, 'cropSize' | 'frameStack' | 'numConvLayers' | 'numFilters' | 'latentDim' | 'hiddenDim' | 'aux'>,
  actionDim: number,
): number {
  const side = Math.max(1, encoderOutputSide(config.cropSize, config.numConvLayers));
  const f = side * side * config.numFilters;
  let conv = 0;
  let cin = 3 * config.frameStack;
  for (let l = 0; l < config.numConvLayers; l++) {
    conv += KERNEL * KERNEL * cin * config.numFilters + config.numFilters;
    cin = config.numFilters;
  }
  const head = f * config.latentDim + 3 * config.latentDim;
  const mlp = (dims: number[]): number => dims.slice(1).reduce((sum, m, i) => sum + dims[i]! * m + m, 0);
  const q = mlp([config.latentDim + actionDim, config.hiddenDim, config.hiddenDim, 1]);
  const critic = conv + head + 2 * q;
  const actor = head + mlp([config.latentDim, config.hiddenDim, config.hiddenDim, 2 * actionDim]);
  return 2 * critic + actor + auxParamCount(config) + 1;
}

/**
 * Parameters of the aux objective (its descriptor's count, agents/aux/registry.ts), with the option
 * fields it reads taken from `config` (absent ones at their defaults).
 */
export function auxParamCount(config: Pick<Config, 'latentDim' | 'aux'>): number {
  const descriptor = auxObjective(config.aux);
  return descriptor.paramCount({ latentDim: config.latentDim, options: resolveAuxOptions(descriptor, config) });
}

/** State the aux objective keeps besides parameters (its descriptor's count; none when it declares none). */
export function auxStateBytes(config: Pick<Config, 'latentDim' | 'aux' | 'replayCapacity'>): { perReplaySlot: number; fixed: number } {
  const descriptor = auxObjective(config.aux);
  if (!descriptor.stateBytes) return { perReplaySlot: 0, fixed: 0 };
  return descriptor.stateBytes({ latentDim: config.latentDim, options: resolveAuxOptions(descriptor, config), replayCapacity: config.replayCapacity });
}

export interface MemoryNeed {
  /** The replay buffer, with any per-slot state of the aux objective (a memory bank). */
  replayBytes: number;
  bytesPerTransition: number;
  /** Weights, Adam's two moments and a gradient per weight. */
  networkBytes: number;
  /** The aux objective's state that does not grow with the replay (a key queue), in JS memory, not the tensor backend's. */
  auxFixedBytes: number;
}

export function estimateMemory(config: Config, actionDim: number): MemoryNeed {
  const aux = auxStateBytes(config);
  // Each frame stored once, plus replay/buffer.ts's per-slot epStart (f64), action (f32 x dim), reward (f32) and flags (u8).
  const bytesPerTransition = config.imageSize * config.imageSize * 3 + 8 + 4 * actionDim + 4 + 1 + aux.perReplaySlot;
  return {
    replayBytes: config.replayCapacity * bytesPerTransition,
    bytesPerTransition,
    networkBytes: agentParamCount(config, actionDim) * 4 * 4,
    auxFixedBytes: aux.fixed,
  };
}

/** Memory this process may still use: what the kernel calls available, within a cgroup's limit when there is one. */
export function availableMemoryBytes(): { bytes: number; source: string } {
  let bytes = freemem();
  let source = 'free memory';
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (match) {
      bytes = Number(match[1]) * 1024;
      source = 'MemAvailable in /proc/meminfo';
    }
  } catch {
    // Not Linux: freemem() it is.
  }
  for (const [limitFile, usageFile] of [
    ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory.current'],
    ['/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory/memory.usage_in_bytes'],
  ] as const) {
    try {
      const limit = Number(readFileSync(limitFile, 'utf8').trim());
      const usage = Number(readFileSync(usageFile, 'utf8').trim());
      if (Number.isFinite(limit) && Number.isFinite(usage) && limit - usage < bytes) {
        bytes = Math.max(0, limit - usage);
        source = `the container's memory limit (${limitFile})`;
      }
    } catch {
      // No such cgroup file.
    }
  }
  return { bytes, source };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}

/** tfjs-wasm's heap is a 32-bit wasm memory. */
const WASM_HEAP_BYTES = 4 * 2 ** 30;

export interface MachineLimits {
  /** The concrete backend the run will use. */
  backend: string;
  /** The env's action dimension when known before it starts (built-in tasks); remote envs are assumed small. */
  actionDim?: number;
  available?: { bytes: number; source: string };
}

/**
 * Refuses (exit 2) a config whose replay buffer and networks cannot fit in
 * this machine's memory, or whose networks exceed the wasm heap, saying what
 * would fit. Run before anything is created.
 */
export function checkRunFitsMachine(config: Config, limits: MachineLimits): void {
  const actionDim = limits.actionDim ?? 1;
  const need = estimateMemory(config, actionDim);
  const available = limits.available ?? availableMemoryBytes();
  const problems: string[] = [];
  const total = need.replayBytes + need.networkBytes + need.auxFixedBytes;
  if (limits.backend === 'wasm' && need.networkBytes > WASM_HEAP_BYTES / 2 && total <= available.bytes) {
    problems.push(
      `the networks (--hidden-dim ${config.hiddenDim}, --num-filters ${config.numFilters}, --latent-dim ${config.latentDim}) need about ${formatBytes(need.networkBytes)} ` +
        `for weights, gradients and Adam's moments, more than half the ${formatBytes(WASM_HEAP_BYTES)} heap of the ${limits.backend} backend; use smaller layers or a native backend`,
    );
  }
  if (total > available.bytes) {
    const networkRoom = Math.max(0, available.bytes - need.networkBytes - need.auxFixedBytes);
    const maxCapacity = Math.floor(networkRoom / need.bytesPerTransition);
    const hint =
      need.replayBytes > need.networkBytes
        ? `lower --replay-capacity to at most ${maxCapacity} (${formatBytes(need.bytesPerTransition)} per transition at ${config.imageSize}x${config.imageSize}), or --image-size`
        : 'use smaller layers (--hidden-dim, --num-filters, --latent-dim)';
    problems.push(
      `the run needs about ${formatBytes(total)} of memory (replay buffer${auxStateBytes(config).perReplaySlot > 0 ? ` with the --aux ${config.aux} state of each slot` : ''} ${formatBytes(need.replayBytes)} for --replay-capacity ${config.replayCapacity}, ` +
        `networks ${formatBytes(need.networkBytes)}) but this machine has ${formatBytes(available.bytes)} available now (${available.source}); ${hint}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(`This run does not fit this machine: ${problems.join('; and ')}.`);
}

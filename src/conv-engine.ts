import { availableParallelism } from 'node:os';
import { BUILD_HINT, loadConvAddon } from '../agents/native/addon.js';
import type { NativeInfo } from '../agents/native/addon.js';
import type { AgentCompute } from '../agents/index.js';
import { singleThreadedBackend } from '../agents/tower/defaults.js';
import type { ConvEngineName } from '../agents/tower/trunk.js';
import type { BackendName } from './core/backend-names.js';
import type { convEngineNames, precisionNames } from './config/schema.js';
import { BackendUnavailableError, ConfigError } from './core/errors.js';
import type { Precision } from '../agents/native/addon.js';

export type ConvEngineRequest = (typeof convEngineNames)[number];
export type PrecisionRequest = (typeof precisionNames)[number];

export interface ConvEngineChoice {
  readonly engine: ConvEngineName;
  readonly requested: ConvEngineRequest;
  /** Why this engine, in words a user can act on. */
  readonly reason: string;
  /** The addon's libtorch, when it loads (whichever engine was chosen). */
  readonly libtorch?: NativeInfo;
}

/**
 * Who runs the conv passes. auto: libtorch when its addon is built and the
 * tfjs backend is wasm or cpu; tfjs otherwise. Asking for libtorch where it
 * is not built is an error that says how to build it (exit code 3).
 */
export function resolveConvEngine(requested: ConvEngineRequest, backend: string): ConvEngineChoice {
  const addon = loadConvAddon();
  const libtorch = addon.available ? { libtorch: addon.info } : {};
  if (requested === 'tfjs') return { engine: 'tfjs', requested, reason: 'requested', ...libtorch };
  if (requested === 'libtorch') {
    if (!addon.available) throw new BackendUnavailableError(`--conv-engine libtorch is not available: ${addon.reason}. ${BUILD_HINT}`);
    return { engine: 'libtorch', requested, reason: `requested; libtorch ${addon.info.torchVersion}`, ...libtorch };
  }
  if (!singleThreadedBackend(backend)) return { engine: 'tfjs', requested, reason: `the ${backend} backend runs convs natively`, ...libtorch };
  if (!addon.available) return { engine: 'tfjs', requested, reason: `${addon.reason}; ${BUILD_HINT}` };
  return { engine: 'libtorch', requested, reason: `libtorch ${addon.info.torchVersion} addon is built and the backend is ${backend}`, ...libtorch };
}

/**
 * libtorch's intra-op threads for a run: one per core it may use. convWorkers
 * (the tfjs engine's extra threads) counts the same share: threads = workers + 1.
 */
export function libtorchThreads(convWorkers: number | undefined, cores = availableParallelism()): number {
  return convWorkers === undefined ? Math.max(1, cores) : convWorkers + 1;
}

export interface PrecisionChoice {
  readonly precision: Precision;
  readonly requested: PrecisionRequest;
  /** Why this precision, in words a user can act on. */
  readonly reason: string;
  /** Set when the choice runs but slower than it should (bf16 emulated on this CPU). */
  readonly warning?: string;
}

/**
 * What the trunk computes in. bf16 runs only on the libtorch engine (exit 2
 * on the tfjs engine, and where the CPU cannot run it at all); auto picks it
 * only where the CPU runs bf16 in hardware (avx512_bf16, AMX), since emulated
 * bf16 is slower than fp32.
 */
export function resolvePrecision(requested: PrecisionRequest, engine: ConvEngineName): PrecisionChoice {
  if (requested === 'fp32') return { precision: 'fp32', requested, reason: 'requested' };
  const addon = loadConvAddon();
  const bf16 = engine === 'libtorch' && addon.available ? addon.info : null;
  if (requested === 'bf16') {
    if (!bf16) {
      throw new ConfigError(`--precision bf16 needs the libtorch conv engine; this run's conv engine is tfjs, which computes in fp32. Use --precision fp32 or auto${addon.available ? ', or --conv-engine libtorch' : `, or build the native engine: ${BUILD_HINT}`}`);
    }
    if (bf16.bf16 === 'unsupported') throw new ConfigError(`--precision bf16: libtorch cannot run bf16 on this CPU (${bf16.bf16Why}); use --precision fp32`);
    return {
      precision: 'bf16', requested, reason: `requested; bf16 is ${bf16.bf16} here (${bf16.bf16Why})`,
      ...(bf16.bf16 === 'emulated' ? { warning: `bf16 is emulated on this CPU (${bf16.bf16Why}): expect it to be slower than fp32` } : {}),
    };
  }
  if (!bf16) return { precision: 'fp32', requested, reason: 'the tfjs conv engine computes in fp32' };
  if (bf16.bf16 !== 'native') return { precision: 'fp32', requested, reason: `bf16 is ${bf16.bf16} on this CPU (${bf16.bf16Why}), slower than fp32` };
  return { precision: 'bf16', requested, reason: `this CPU runs bf16 natively (${bf16.bf16Why})` };
}

/** Where an agent's encoder passes run in this process: the engine for `requested`, libtorch's threads, the tfjs engine's workers, the precision. */
export function agentCompute(
  requested: ConvEngineRequest, convWorkers: number | undefined, backend: string, precision: PrecisionRequest = 'fp32',
): AgentCompute {
  const { engine } = resolveConvEngine(requested, backend);
  return {
    engine, backend: backend as BackendName, threads: libtorchThreads(convWorkers), workers: engine === 'tfjs' ? (convWorkers ?? 0) : 0,
    precision: resolvePrecision(precision, engine).precision,
  };
}

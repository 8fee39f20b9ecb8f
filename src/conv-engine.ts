import { availableParallelism } from 'node:os';
import { BUILD_HINT, loadConvAddon } from '../agents/native/addon.js';
import type { NativeInfo } from '../agents/native/addon.js';
import { singleThreadedBackend } from '../agents/tower/defaults.js';
import type { ConvEngineName } from '../agents/tower/trunk.js';
import type { convEngineNames } from './config/schema.js';
import { BackendUnavailableError } from './core/errors.js';

export type ConvEngineRequest = (typeof convEngineNames)[number];

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

import { availableParallelism } from 'node:os';

/** Worker threads only help the single-threaded backends; TensorFlow (native) already uses every core. */
export function usesConvWorkers(backend: string): boolean {
  return backend === 'wasm' || backend === 'cpu';
}

/**
 * Workers for one run's share of the cores: `runsSharingCores` processes
 * (a sweep's parallel runs) split the cores, and the run's own thread is one
 * of its share.
 */
export function coreShareWorkers(runsSharingCores = 1, cores = availableParallelism()): number {
  return Math.max(0, Math.floor(cores / Math.max(1, runsSharingCores)) - 1);
}

/** Workers for an unset convWorkers: the run's share of the cores on wasm/cpu, none on the native backends. */
export function defaultConvWorkers(backend: string, runsSharingCores = 1, cores = availableParallelism()): number {
  return usesConvWorkers(backend) ? coreShareWorkers(runsSharingCores, cores) : 0;
}

import { availableParallelism } from 'node:os';

/**
 * Whether a tfjs backend runs its kernels on one thread in this process (wasm,
 * cpu): conv worker threads and the libtorch engine speed those up, while
 * TensorFlow (native) already convolves on every core.
 */
export function singleThreadedBackend(backend: string): boolean {
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
  return singleThreadedBackend(backend) ? coreShareWorkers(runsSharingCores, cores) : 0;
}

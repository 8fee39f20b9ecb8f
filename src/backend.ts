/*
 * Compute backend selection. The native TensorFlow bindings are optional peer
 * dependencies (their install step downloads libtensorflow, which not every
 * machine can), so they are detected at run time; wasm ships with the package
 * and cpu is tfjs' pure-JS fallback.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { BackendUnavailableError } from './core/errors.js';
import type { BackendName } from './config/schema.js';

export type ConcreteBackend = Exclude<BackendName, 'auto'>;

export interface BackendProbe {
  readonly name: ConcreteBackend;
  readonly available: boolean;
  /** Why it is (not) usable, in words a user can act on. */
  readonly reason: string;
}

export interface BackendChoice {
  readonly name: ConcreteBackend;
  /** The tfjs backend name registered for it ('tensorflow', 'wasm' or 'cpu'). */
  readonly tfBackend: string;
  readonly requested: BackendName;
  /** For auto: every backend tried before the chosen one, with the reason it was skipped. */
  readonly skipped: readonly BackendProbe[];
  readonly flags: Readonly<Record<string, boolean>>;
}

export const autoOrder: readonly ConcreteBackend[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

const nativePackage = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
} as const;

export const installHint: Record<ConcreteBackend, string> = {
  'tensorflow-gpu':
    'Install it with `npm install @tensorflow/tfjs-node-gpu@4.22.0` on a Linux x86_64 machine with an NVIDIA GPU, its driver, CUDA 11.2 and cuDNN 8.1 (the versions libtensorflow 2.9 is built against); its install step downloads libtensorflow, so it needs internet access.',
  tensorflow:
    'Install it with `npm install @tensorflow/tfjs-node@4.22.0` (Linux, macOS or Windows x86_64); its install step downloads libtensorflow, so it needs internet access.',
  wasm: 'It ships with this package: run `npm ci` to restore @tensorflow/tfjs-backend-wasm.',
  cpu: 'It is part of @tensorflow/tfjs: run `npm ci`.',
};

const require = createRequire(import.meta.url);

function isResolvable(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/** Where a CUDA driver is visible; libtensorflow's GPU build silently runs on the CPU without one. */
export function cudaDeviceVisible(): boolean {
  return existsSync('/proc/driver/nvidia/version') || existsSync('/dev/nvidia0');
}

export interface ProbeEnvironment {
  isResolvable(pkg: string): boolean;
  cudaDeviceVisible(): boolean;
}

const realEnvironment: ProbeEnvironment = { isResolvable, cudaDeviceVisible };

/** What each backend needs, checked without loading anything heavy. */
export function probeBackends(environment: ProbeEnvironment = realEnvironment): BackendProbe[] {
  const gpuInstalled = environment.isResolvable(nativePackage['tensorflow-gpu']);
  const cpuNativeInstalled = environment.isResolvable(nativePackage.tensorflow);
  const cuda = environment.cudaDeviceVisible();
  return [
    {
      name: 'tensorflow-gpu',
      available: gpuInstalled && cuda,
      reason: !gpuInstalled
        ? `${nativePackage['tensorflow-gpu']} is not installed`
        : cuda
          ? `${nativePackage['tensorflow-gpu']} is installed and an NVIDIA driver is visible`
          : `${nativePackage['tensorflow-gpu']} is installed but no NVIDIA driver is visible (/proc/driver/nvidia/version, /dev/nvidia0)`,
    },
    {
      name: 'tensorflow',
      available: cpuNativeInstalled,
      reason: cpuNativeInstalled ? `${nativePackage.tensorflow} is installed` : `${nativePackage.tensorflow} is not installed`,
    },
    {
      name: 'wasm',
      available: environment.isResolvable('@tensorflow/tfjs-backend-wasm'),
      reason: environment.isResolvable('@tensorflow/tfjs-backend-wasm')
        ? '@tensorflow/tfjs-backend-wasm is installed (SIMD; single-threaded under Node)'
        : '@tensorflow/tfjs-backend-wasm is not installed',
    },
    { name: 'cpu', available: true, reason: 'pure-JS backend of @tensorflow/tfjs, always present (slow)' },
  ];
}

/** Picks the backend to use without initialising it: the requested one, or the first available for auto. */
export function chooseBackend(
  requested: BackendName,
  probes: readonly BackendProbe[],
): { name: ConcreteBackend; skipped: BackendProbe[] } {
  if (requested !== 'auto') {
    const probe = probes.find((p) => p.name === requested);
    if (!probe || !probe.available) {
      throw new BackendUnavailableError(
        `The '${requested}' backend is not available: ${probe?.reason ?? 'unknown backend'}. ${installHint[requested]} ` +
          `Or run with --backend auto to use the best backend installed here.`,
      );
    }
    return { name: requested, skipped: [] };
  }
  const skipped: BackendProbe[] = [];
  for (const name of autoOrder) {
    const probe = probes.find((p) => p.name === name);
    if (probe?.available) return { name, skipped };
    if (probe) skipped.push(probe);
  }
  return { name: 'cpu', skipped };
}

async function activate(name: ConcreteBackend): Promise<string> {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      // Importing the binding registers tfjs' 'tensorflow' backend.
      await import(nativePackage[name]);
      break;
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      break;
    case 'cpu':
      break;
  }
  const tfName = name === 'wasm' || name === 'cpu' ? name : 'tensorflow';
  const ok = await tf.setBackend(tfName);
  await tf.ready();
  if (!ok || tf.getBackend() !== tfName) {
    throw new BackendUnavailableError(`The '${name}' backend failed to initialise. ${installHint[name]}`);
  }
  return tfName;
}

let current: BackendChoice | undefined;

/**
 * Initialises the requested backend (or the best one for auto) and makes it
 * tfjs' active backend. Calling it again with the same request is free.
 */
export async function initBackend(
  requested: BackendName = 'auto',
  options: { log?: (line: string) => void; probes?: readonly BackendProbe[] } = {},
): Promise<BackendChoice> {
  if (current && (current.requested === requested || current.name === requested)) return current;
  const probes = options.probes ?? probeBackends();
  const { name, skipped } = chooseBackend(requested, probes);
  const tfBackend = await activate(name);
  const flagNames = ['WASM_HAS_SIMD_SUPPORT', 'WASM_HAS_MULTITHREAD_SUPPORT'];
  const flags: Record<string, boolean> = {};
  if (name === 'wasm') for (const f of flagNames) flags[f] = tf.env().getBool(f);
  current = { name, tfBackend, requested, skipped, flags };
  if (options.log) {
    const why = skipped.map((p) => `${p.name}: ${p.reason}`).join('; ');
    options.log(
      requested === 'auto'
        ? `backend: ${name} (auto${why ? `; skipped ${why}` : ''})`
        : `backend: ${name} (requested)`,
    );
  }
  return current;
}

export function currentBackend(): BackendChoice | undefined {
  return current;
}

/** The backend in use: the one initBackend chose, else tfjs' own (code that set a backend directly, as tests do). */
export function activeBackendName(): string {
  return current?.name ?? tf.getBackend();
}

// The libtorch conv engine's N-API addon (conv_engine.cc), loaded on first
// use. It is optional: a machine without libtorch has no addon, and the
// tfjs engine does the convs instead.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export { BUILD_COMMAND, BUILD_HINT } from './install-hint.mjs';

/**
 * What the trunk's convs and dense heads compute in: fp32, or bf16 inputs and weights
 * with fp32 accumulation (the outputs and gradients handed back are fp32 either way).
 */
export const precisions = ['fp32', 'bf16'] as const;
export type Precision = (typeof precisions)[number];

/** How this CPU and libtorch run bf16: in hardware (avx512_bf16, AMX), converted to fp32 in AVX-512 registers, or not at all. */
export type Bf16Support = 'native' | 'emulated' | 'unsupported';

export interface NativeHead {
  /** [F, L], F in NHWC order of the last conv's output */
  w: Float32Array;
  /** [L] */
  b: Float32Array;
}

export interface NativeGrads {
  headW: Float32Array;
  headB: Float32Array;
  /** conv filters' gradients, [kh, kw, Cin, Cout] each (only when asked for) */
  w?: Float32Array[];
  b?: Float32Array[];
}

/** A head already in the engine's layout (prepareHead). */
export type PreparedHead = { readonly __brand: 'PreparedHead' };

/** See conv_engine.cc; layouts are tfjs'. */
export interface NativeConvEngine {
  readonly threads: number;
  readonly precision: Precision;
  /** The precision of the first layer's filter gradient, as the engine resolved it: fp32 on an fp32 engine. */
  readonly firstFilterGradient: Precision;
  load(images: Record<string, Uint8Array>, rows: number): void;
  prepareHead(head: NativeHead): PreparedHead;
  forward(key: string, convW: Float32Array[], convB: Float32Array[], heads: Array<NativeHead | PreparedHead>, keep: string): Promise<Float32Array[]>;
  backward(
    slot: string, convW: Float32Array[], convB: Float32Array[], head: NativeHead | PreparedHead, dOut: Float32Array, withConv: boolean,
  ): Promise<NativeGrads>;
  release(): void;
}

/** A dense layer in the head kernels' layout (prepareDense). */
export type PreparedDense = { readonly __brand: 'PreparedDense' };
/** A kept MLP forward pass, for one mlpBackward. */
export type MlpTrace = { readonly __brand: 'MlpTrace' };

/** See head_kernels.h: the MLP heads, Adam and the target EMA on libtorch, fp32, synchronous; layouts are tfjs'. */
export interface NativeHeadKernels {
  readonly threads: number;
  /** w [inDim, outDim] */
  prepareDense(w: Float32Array, b: Float32Array, inDim: number, outDim: number): PreparedDense;
  mlpForward(x: Float32Array, rows: number, layers: PreparedDense[], keep: boolean): { out: Float32Array; trace?: MlpTrace };
  mlpBackward(trace: MlpTrace, dOut: Float32Array, paramGrads: boolean): { dx: Float32Array; w?: Float32Array[]; b?: Float32Array[] };
  /** One Adam step: p and g are read, m and v updated in place, the new values written to out; with `flush`, moments below 2^-126 are stored as +0 (agents/adam.ts). */
  adamStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, out: Float32Array, lr: number, beta1: number, beta2: number, eps: number, t: number, flush: boolean): void;
  /** out = online * tau + target * (1 - tau). */
  softUpdate(target: Float32Array, online: Float32Array, tau: number, out: Float32Array): void;
  /** The sum of x's squares, accumulated in float64. */
  sumSquares(x: Float32Array): number;
}

export interface NativeInfo {
  torchVersion: string;
  mkldnn: boolean;
  parallel: string;
  bf16: Bf16Support;
  /** The CPU features that decided it and where they were read (libtorch's cpuinfo query, or /proc/cpuinfo). */
  bf16Why: string;
}

export interface NativeEngineOptions {
  height: number;
  width: number;
  channels: number;
  layers: number;
  filters: number;
  threads: number;
  /** fp32 when left out. */
  precision?: Precision;
  /**
   * bf16 engines only: the first layer's filter gradient in fp32 or bf16; 'auto' (the default) is bf16
   * where the CPU has AMX and fp32 elsewhere (conv_engine.cc says why).
   */
  firstFilterGradient?: 'auto' | Precision;
}

interface Binding {
  ConvEngine: new (options: NativeEngineOptions) => NativeConvEngine;
  HeadKernels: new (options: { threads: number }) => NativeHeadKernels;
  info(): NativeInfo;
}

/** The libtorch an addon was built against, as build.mjs recorded it in libtorch.json beside the addon. */
export interface LibtorchBuild {
  source: string;
  version: string | null;
  lib: string;
  cxxStd: number;
  cxx11Abi: number | null;
  /** Why this one: named by LIBTORCH_DIR or --libtorch-dir, the only one found, or the newest of those found. */
  reason: string;
  candidates: Array<{ source: string; version?: string | null; why?: string }>;
}

export type AddonStatus =
  | { available: true; path: string; binding: Binding; info: NativeInfo; build: LibtorchBuild | null }
  | { available: false; path: string; reason: string };

/** Where the addon is: CURL_RL_CONV_ADDON when set (another build, or a test's; relative to the working directory), else the build output. */
export function addonPath(): string {
  const named = process.env.CURL_RL_CONV_ADDON;
  return named ? resolve(named) : fileURLToPath(new URL('./build/Release/curl_conv.node', import.meta.url));
}

let cached: AddonStatus | undefined;

export function loadConvAddon(): AddonStatus {
  const path = addonPath();
  if (cached && cached.path === path) return cached;
  if (!existsSync(path)) {
    cached = { available: false, path, reason: `the native conv engine is not built (no ${path})` };
    return cached;
  }
  try {
    const binding = createRequire(import.meta.url)(path) as Binding;
    if (typeof binding.ConvEngine !== 'function' || typeof binding.info !== 'function') {
      throw new Error('it does not export ConvEngine and info(); rebuild it');
    }
    if (typeof binding.HeadKernels !== 'function') throw new Error('it was built before the head kernels (HeadKernels); rebuild it');
    cached = { available: true, path, binding, info: binding.info(), build: readBuildRecord(path) };
  } catch (error) {
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    cached = { available: false, path, reason: `the native conv engine at ${path} does not load: ${why}` };
  }
  return cached;
}

/** libtorch.json beside the addon; null for an addon built without one (by hand with node-gyp). */
function readBuildRecord(addon: string): LibtorchBuild | null {
  const file = join(dirname(addon), 'libtorch.json');
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LibtorchBuild;
  } catch {
    return null;
  }
}

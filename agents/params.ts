/*
 * The agent's variables, by name. Names are what checkpoints store:
 *   conv.w{l}, conv.b{l}            conv stack shared by critic, actor and CURL query
 *   critic.fc.*, critic.ln.*        critic encoder head (also CURL's query head)
 *   q1.w{i}, q1.b{i}, q2.*          twin Q MLPs
 *   target.<any of the above>       critic target (its encoder is CURL's key encoder)
 *   actor.fc.*, actor.ln.*          the actor's own encoder head
 *   actor.w{i}, actor.b{i}          actor MLP
 *   logAlpha                        temperature
 *   then the aux objective's own    added by the objective (agents/aux), drawn from the same
 *   (curl.W, simclr.*, ...)         init stream after all of the above
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../src/core/rng.js';
import { deltaOrthogonal, orthogonalFast } from './init.js';
import { KERNEL, convOutputSide } from './conv-size.js';
import type { ConvParams, HeadParams, MlpParams } from './networks.js';

export interface NetworkShape {
  readonly obsShape: readonly [number, number, number];
  readonly actionDim: number;
  readonly numConvLayers: number;
  readonly numFilters: number;
  readonly latentDim: number;
  readonly hiddenDim: number;
}

export type ParamMap = Map<string, tf.Variable>;

export function featureDim(s: NetworkShape): number {
  const side = convOutputSide(s.obsShape[0], s.numConvLayers);
  return side * side * s.numFilters;
}

/** A variable from a tensor, without leaving the source tensor alive (tf.variable does not take ownership). */
export function variableFrom(t: tf.Tensor, trainable = true): tf.Variable {
  const v = tf.variable(t, trainable);
  t.dispose();
  return v;
}

function add(params: ParamMap, name: string, data: Float32Array, shape: number[]): void {
  params.set(name, variableFrom(tf.tensor(data, shape, 'float32')));
}

function addMlp(params: ParamMap, prefix: string, dims: number[], rng: Rng): void {
  for (let i = 0; i + 1 < dims.length; i++) {
    const [n, m] = [dims[i]!, dims[i + 1]!];
    add(params, `${prefix}.w${i}`, orthogonalFast(n, m, rng), [n, m]);
    add(params, `${prefix}.b${i}`, new Float32Array(m), [m]);
  }
}

function addHead(params: ParamMap, prefix: string, f: number, latent: number, rng: Rng): void {
  add(params, `${prefix}.fc.w`, orthogonalFast(f, latent, rng), [f, latent]);
  add(params, `${prefix}.fc.b`, new Float32Array(latent), [latent]);
  add(params, `${prefix}.ln.g`, new Float32Array(latent).fill(1), [latent]);
  add(params, `${prefix}.ln.b`, new Float32Array(latent), [latent]);
}

/** Build the agent's own variables with the reference's initialisation, drawn from rng in a fixed order. */
export function createParams(s: NetworkShape, initTemperature: number, rng: Rng): ParamMap {
  const params: ParamMap = new Map();
  const f = featureDim(s);
  let cin = s.obsShape[2];
  for (let l = 0; l < s.numConvLayers; l++) {
    add(params, `conv.w${l}`, deltaOrthogonal(KERNEL, KERNEL, cin, s.numFilters, rng), [KERNEL, KERNEL, cin, s.numFilters]);
    add(params, `conv.b${l}`, new Float32Array(s.numFilters), [s.numFilters]);
    cin = s.numFilters;
  }
  addHead(params, 'critic', f, s.latentDim, rng);
  const qDims = [s.latentDim + s.actionDim, s.hiddenDim, s.hiddenDim, 1];
  addMlp(params, 'q1', qDims, rng);
  addMlp(params, 'q2', qDims, rng);
  // the reference's critic_target.load_state_dict(critic.state_dict())
  for (const name of [...params.keys()]) {
    params.set(`target.${name}`, variableFrom(params.get(name)!.clone()));
  }
  addHead(params, 'actor', f, s.latentDim, rng);
  addMlp(params, 'actor', [s.latentDim, s.hiddenDim, s.hiddenDim, 2 * s.actionDim], rng);
  add(params, 'logAlpha', new Float32Array([Math.log(initTemperature)]), []);
  return params;
}

function get<T extends tf.Tensor>(params: ReadonlyMap<string, tf.Tensor>, name: string): T {
  const p = params.get(name);
  if (!p) throw new Error(`agent: missing parameter "${name}"`);
  return p as T;
}

export function convNames(numLayers: number, prefix = ''): string[] {
  const names: string[] = [];
  for (let l = 0; l < numLayers; l++) names.push(`${prefix}conv.w${l}`, `${prefix}conv.b${l}`);
  return names;
}
export function headNames(prefix: string): string[] {
  return [`${prefix}.fc.w`, `${prefix}.fc.b`, `${prefix}.ln.g`, `${prefix}.ln.b`];
}
export function mlpNames(prefix: string, layers = 3): string[] {
  const names: string[] = [];
  for (let i = 0; i < layers; i++) names.push(`${prefix}.w${i}`, `${prefix}.b${i}`);
  return names;
}

export function convParams(params: ReadonlyMap<string, tf.Tensor>, numLayers: number, prefix = ''): ConvParams {
  const w: tf.Tensor4D[] = [];
  const b: tf.Tensor1D[] = [];
  for (let l = 0; l < numLayers; l++) {
    w.push(get(params, `${prefix}conv.w${l}`));
    b.push(get(params, `${prefix}conv.b${l}`));
  }
  return { w, b };
}
export function headParams(params: ReadonlyMap<string, tf.Tensor>, prefix: string): HeadParams {
  return {
    fcW: get(params, `${prefix}.fc.w`),
    fcB: get(params, `${prefix}.fc.b`),
    lnG: get(params, `${prefix}.ln.g`),
    lnB: get(params, `${prefix}.ln.b`),
  };
}
export function mlpParams(params: ReadonlyMap<string, tf.Tensor>, prefix: string, layers = 3): MlpParams {
  const w: tf.Tensor2D[] = [];
  const b: tf.Tensor1D[] = [];
  for (let i = 0; i < layers; i++) {
    w.push(get(params, `${prefix}.w${i}`));
    b.push(get(params, `${prefix}.b${i}`));
  }
  return { w, b };
}

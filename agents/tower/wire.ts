import * as tf from '@tensorflow/tfjs';
import type { ConvGrads, ConvParams } from '../networks.js';
import type { ImageKey, Images } from './local.js';

/** Values of a tensor as they cross between threads. */
export interface WireTensor {
  shape: number[];
  data: Float32Array;
}

export interface WireConv {
  w: WireTensor[];
  b: WireTensor[];
}

export type TowerRequest =
  | { id: number; op: 'load'; rows: number; images: Images }
  | { id: number; op: 'features' | 'anchor'; key: ImageKey; params: WireConv }
  | { id: number; op: 'anchorGrads'; params: WireConv; dh: WireTensor }
  | { id: number; op: 'release' };

export type TowerReply =
  | { id: number; ok: true; features?: WireTensor; grads?: WireConv }
  | { id: number; ok: false; error: string };

/** A copy of t's values that this thread owns (so it can be transferred): wasm's dataSync already copies out of its heap, cpu's returns its own storage. */
export function toWire(t: tf.Tensor): WireTensor {
  const data = t.dataSync() as Float32Array;
  return { shape: [...t.shape], data: tf.getBackend() === 'wasm' ? data : data.slice() };
}

export function fromWire<R extends tf.Rank>(w: WireTensor): tf.Tensor<R> {
  return tf.tensor(w.data, w.shape as tf.ShapeMap[R], 'float32');
}

export function convToWire(p: ConvParams | ConvGrads): WireConv {
  return { w: p.w.map(toWire), b: p.b.map(toWire) };
}

export function convFromWire(w: WireConv): { w: tf.Tensor4D[]; b: tf.Tensor1D[] } {
  return { w: w.w.map((t) => fromWire<tf.Rank.R4>(t)), b: w.b.map((t) => fromWire<tf.Rank.R1>(t)) };
}

/** The ArrayBuffers of a reply, moved (not copied) to the other thread. */
export function transferList(reply: TowerReply): ArrayBuffer[] {
  if (!reply.ok) return [];
  const out: ArrayBuffer[] = [];
  if (reply.features) out.push(reply.features.data.buffer as ArrayBuffer);
  if (reply.grads) for (const t of [...reply.grads.w, ...reply.grads.b]) out.push(t.data.buffer as ArrayBuffer);
  return out;
}

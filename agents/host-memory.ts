/*
 * A float32 tensor's values where the backend keeps them on the host, so that
 * a native kernel reads and writes them without a copy. On the wasm backend
 * these are views of its heap: Adam and the EMA over 8 M parameters through
 * dataSync() copies and fresh arrays (page faults on every 17 MB block) cost
 * more than the arithmetic. Other backends get copies.
 *
 * A wasm view is valid only until tfjs allocates again (the heap may grow and
 * move): take views last, right before the native call, and drop them after.
 */
import * as tf from '@tensorflow/tfjs';

interface WasmBackend {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/** tfjs' handle of a tensor's values: shared by clones, replaced when a variable is assigned. */
export function dataId(t: tf.Tensor): object {
  return (t as unknown as { dataId: object }).dataId;
}

function wasmBackend(t?: tf.Tensor): WasmBackend | null {
  const engine = tf.engine();
  const backend = t ? (engine as unknown as { state: { tensorInfo: Map<object, { backend: unknown }> } }).state.tensorInfo.get(dataId(t))?.backend : engine.backend;
  const b = backend as Partial<WasmBackend> | undefined;
  return b && typeof b.typedArrayFromHeap === 'function' && typeof b.makeOutput === 'function' ? (b as WasmBackend) : null;
}

/** The tensor's values, read-only: a view of wasm's heap, else a copy. */
export function hostValues(t: tf.Tensor): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`host memory: expected a float32 tensor, got ${t.dtype}`);
  const wasm = wasmBackend(t);
  return wasm ? wasm.typedArrayFromHeap(t) : (t.dataSync() as Float32Array);
}

/** A new float32 tensor whose values a kernel writes through `view()` (uninitialised until then). */
export interface HostOutput {
  readonly tensor: tf.Tensor;
  /** Its values, writable; take it right before the kernel runs (see the module comment). */
  view(): Float32Array;
}

export function hostOutput(shape: number[]): HostOutput {
  const wasm = wasmBackend();
  if (wasm) {
    const info = wasm.makeOutput(shape, 'float32');
    const tensor = tf.engine().makeTensorFromTensorInfo(info);
    return { tensor, view: () => wasm.typedArrayFromHeap(info) };
  }
  // elsewhere the kernel fills a host array, moved into a tensor once written
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let tensor: tf.Tensor | null = null;
  return {
    get tensor() {
      tensor ??= tf.tensor(values, shape, 'float32');
      return tensor;
    },
    view: () => values,
  };
}

// Making one named tfjs backend the active one on this thread: what each
// needs installed, and the import that registers it. Choosing which backend a
// run uses (probing what is installed, auto's order) is src/backend.ts' job;
// this is the part a tower worker thread (agents/tower/worker.ts) repeats to
// run the backend its creator chose. Like all of src/core/, it imports
// nothing of ours outside src/core/ (test/layering.test.ts).
import * as tf from '@tensorflow/tfjs';
import type { ConcreteBackend } from './backend-names.js';
import { BackendUnavailableError } from './errors.js';

/** The optional peer dependencies that provide the native TensorFlow backends. */
export const nativePackage = {
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

/** Registers the backend with tfjs, makes it active on this thread and returns tfjs' name for it ('tensorflow', 'wasm' or 'cpu'). */
export async function activateBackend(name: ConcreteBackend): Promise<string> {
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

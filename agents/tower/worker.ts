import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { activateBackend } from '../../src/core/activate-backend.js';
import type { ConcreteBackend } from '../../src/core/backend-names.js';
import { LocalConvTower } from './local.js';
import { convFromWire, convToWire, fromWire, toWire, transferList } from './wire.js';
import type { TowerReply, TowerRequest } from './wire.js';

/**
 * One shard of a data-parallel conv tower: a LocalConvTower on this worker
 * thread's own backend instance (its own wasm heap), driven by messages from
 * the agent's thread (see sharded.ts).
 */
export interface TowerWorkerData {
  /** The calling thread's backend: the shards must compute on the same one. */
  backend: ConcreteBackend;
  obsShape: [number, number, number];
  microBatch: number;
  cacheTransposes: boolean;
}

const data = workerData as TowerWorkerData;
const port = parentPort!;
await activateBackend(data.backend);
const tower = new LocalConvTower(data.obsShape, data.microBatch, data.cacheTransposes);

function handle(req: TowerRequest): TowerReply {
  switch (req.op) {
    case 'load':
      tower.load(req.images, req.rows);
      return { id: req.id, ok: true };
    case 'features':
    case 'anchor': {
      const params = convFromWire(req.params);
      try {
        const h = req.op === 'features' ? tower.features(req.key, params) : tower.anchor(req.key, params);
        const features = toWire(h);
        h.dispose();
        return { id: req.id, ok: true, features };
      } finally {
        tf.dispose([...params.w, ...params.b]);
      }
    }
    case 'anchorGrads': {
      const params = convFromWire(req.params);
      const dh = fromWire<tf.Rank.R2>(req.dh);
      try {
        const grads = tower.anchorGrads(params, dh);
        const wire = convToWire(grads);
        tf.dispose([...grads.w, ...grads.b]);
        return { id: req.id, ok: true, grads: wire };
      } finally {
        tf.dispose([...params.w, ...params.b, dh]);
      }
    }
    case 'release':
      tower.release();
      return { id: req.id, ok: true };
  }
}

port.on('message', (req: TowerRequest) => {
  let reply: TowerReply;
  try {
    reply = handle(req);
  } catch (error) {
    reply = { id: req.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  port.postMessage(reply, transferList(reply));
});
port.postMessage({ id: -1, ok: true } satisfies TowerReply);

import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from '../../src/core/backend-names.js';
import type { ConvGrads, ConvParams } from '../networks.js';
import { LocalConvTower } from './local.js';
import type { ImageKey, Images } from './local.js';
import { convFromWire, convToWire, fromWire, toWire } from './wire.js';
import type { TowerReply, TowerRequest } from './wire.js';
import type { TowerWorkerData } from './worker.js';

/**
 * The conv passes of an update, the bulk of its FLOPs, over a batch. Every
 * row's features depend only on that row, and the conv gradient is a sum over
 * rows, so the rows can be split into shards computed on separate threads and
 * the results concatenated (features) or summed in a fixed shard order
 * (gradients): the same math, reproducible for a given shard count.
 */
export interface ConvTower {
  /** Threads the rows are split over (1: the calling thread only). */
  readonly shards: number;
  load(images: Images, rows: number): Promise<void>;
  features(key: ImageKey, p: ConvParams): Promise<tf.Tensor2D>;
  anchor(key: ImageKey, p: ConvParams): Promise<tf.Tensor2D>;
  anchorGrads(p: ConvParams, dh: tf.Tensor2D): Promise<ConvGrads>;
  release(): Promise<void>;
  dispose(): void;
}

export interface ConvTowerOptions {
  obsShape: readonly [number, number, number];
  microBatch: number;
  cacheTransposes: boolean;
  /** Extra worker threads (0: everything on the calling thread). */
  workers: number;
  /** Backend the workers initialise (the calling thread's). */
  backend: BackendName;
}

export function createConvTower(options: ConvTowerOptions): ConvTower {
  const local = new LocalConvTower(options.obsShape, options.microBatch, options.cacheTransposes);
  return options.workers > 0 ? new ShardedConvTower(local, options) : new InlineConvTower(local);
}

/** All rows on the calling thread. */
class InlineConvTower implements ConvTower {
  readonly shards = 1;
  constructor(private readonly local: LocalConvTower) {}
  async load(images: Images, rows: number): Promise<void> {
    this.local.load(images, rows);
  }
  async features(key: ImageKey, p: ConvParams): Promise<tf.Tensor2D> {
    return this.local.features(key, p);
  }
  async anchor(key: ImageKey, p: ConvParams): Promise<tf.Tensor2D> {
    return this.local.anchor(key, p);
  }
  async anchorGrads(p: ConvParams, dh: tf.Tensor2D): Promise<ConvGrads> {
    return this.local.anchorGrads(p, dh);
  }
  async release(): Promise<void> {
    this.local.release();
  }
  dispose(): void {
    this.local.release();
  }
}

export class ConvWorkerError extends Error {
  constructor(message: string) {
    super(`agent: conv worker: ${message}`);
    this.name = 'ConvWorkerError';
  }
}

type OkReply = Extract<TowerReply, { ok: true }>;
type Pending = { resolve: (reply: OkReply) => void; reject: (error: Error) => void };
type Request = TowerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/**
 * Promise.all, marked handled at once: the calling thread computes its own
 * shard before awaiting, and a worker's rejection meanwhile must not count as
 * unhandled (the wasm runtime turns unhandled rejections into a crash).
 */
function settled<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const all = Promise.all(promises);
  all.catch(() => undefined);
  return all;
}

/** One worker thread holding one shard. */
class WorkerShard {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | null = null;
  private isReady = false;
  readonly ready: Promise<void>;

  constructor(data: TowerWorkerData) {
    this.worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: data });
    // An agent that is never disposed must not keep the process alive.
    this.worker.unref();
    let markReady!: () => void;
    let failReady!: (e: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    this.ready.catch(() => undefined);
    this.worker.on('message', (reply: TowerReply) => {
      if (reply.id === -1) {
        this.isReady = true;
        return markReady();
      }
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply);
      else p.reject(new ConvWorkerError(reply.error));
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      failReady(error);
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    this.worker.on('error', (e) => fail(new ConvWorkerError(e instanceof Error ? (e.stack ?? e.message) : String(e))));
    this.worker.on('exit', (code) => fail(new ConvWorkerError(`exited with code ${code}`)));
  }

  /**
   * Sends a request now (synchronously, once the worker is up: the caller goes
   * on to compute its own shard meanwhile); settles with the worker's reply, or
   * rejects if the worker failed.
   */
  call(req: Request, transfer: ArrayBuffer[] = []): Promise<OkReply> {
    if (!this.isReady) return this.ready.then(() => this.call(req, transfer));
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<OkReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  dispose(): void {
    this.failure ??= new ConvWorkerError('disposed');
    void this.worker.terminate();
  }
}

/**
 * Shard 0 on the calling thread, the others on worker threads, each with its
 * own backend instance (and wasm heap). Requests go out to the workers first;
 * the calling thread then computes its own shard while they compute theirs.
 */
class ShardedConvTower implements ConvTower {
  readonly shards: number;
  private readonly workers: WorkerShard[];
  private ownRange: [number, number] = [0, 0];
  private active: Array<{ worker: WorkerShard; range: [number, number] }> = [];

  constructor(private readonly local: LocalConvTower, private readonly options: ConvTowerOptions) {
    this.shards = options.workers + 1;
    if (options.backend === 'auto') {
      // auto could pick a different backend on a worker than on this thread, and the shards would not compute alike
      throw new ConvWorkerError("workers run the calling thread's backend, so they are given the concrete one it runs, not 'auto'");
    }
    const data: TowerWorkerData = {
      backend: options.backend,
      obsShape: [...options.obsShape] as [number, number, number],
      microBatch: options.microBatch,
      cacheTransposes: options.cacheTransposes,
    };
    this.workers = Array.from({ length: options.workers }, () => new WorkerShard(data));
  }

  async load(images: Images, rows: number): Promise<void> {
    // contiguous, near-equal shards; with fewer rows than shards the surplus workers sit this batch out
    await Promise.all(this.workers.map((w) => w.ready));
    const k = Math.min(this.shards, rows);
    const ranges = Array.from({ length: k }, (_, i) => [Math.floor((i * rows) / k), Math.floor(((i + 1) * rows) / k)] as [number, number]);
    this.ownRange = ranges[0]!;
    this.active = ranges.slice(1).map((range, i) => ({ worker: this.workers[i]!, range }));
    const [h, w, c] = this.options.obsShape;
    const bytes = h * w * c;
    const entries = (Object.entries(images) as Array<[ImageKey, Uint8Array | undefined]>).filter(
      (e): e is [ImageKey, Uint8Array] => e[1] !== undefined,
    );
    const sends = settled(this.active.map(({ worker, range: [s, e] }) => {
      const part: Images = {};
      const transfer: ArrayBuffer[] = [];
      for (const [key, u8] of entries) {
        const copy = u8.slice(s * bytes, e * bytes); // a view would clone its whole buffer
        part[key] = copy;
        transfer.push(copy.buffer as ArrayBuffer);
      }
      return worker.call({ op: 'load', rows: e - s, images: part }, transfer);
    }));
    const [s0, e0] = this.ownRange;
    const own: Images = {};
    for (const [key, u8] of entries) own[key] = u8.subarray(s0 * bytes, e0 * bytes);
    this.local.load(own, e0 - s0);
    await sends;
  }

  private async pass(op: 'features' | 'anchor', key: ImageKey, p: ConvParams): Promise<tf.Tensor2D> {
    const params = convToWire(p);
    const remote = settled(this.active.map(({ worker }) => worker.call({ op, key, params })));
    const own = op === 'features' ? this.local.features(key, p) : this.local.anchor(key, p);
    let replies: OkReply[];
    try {
      replies = await remote;
    } catch (error) {
      own.dispose();
      throw error;
    }
    if (replies.length === 0) return own;
    return tf.tidy(() => {
      const out = tf.concat([own, ...replies.map((r) => fromWire<tf.Rank.R2>(r.features!))], 0) as tf.Tensor2D;
      own.dispose();
      return out;
    });
  }

  features(key: ImageKey, p: ConvParams): Promise<tf.Tensor2D> {
    return this.pass('features', key, p);
  }

  anchor(key: ImageKey, p: ConvParams): Promise<tf.Tensor2D> {
    return this.pass('anchor', key, p);
  }

  async anchorGrads(p: ConvParams, dh: tf.Tensor2D): Promise<ConvGrads> {
    const params = convToWire(p);
    const remote = settled(this.active.map(({ worker, range: [s, e] }) => {
      const slice = tf.slice(dh, [s, 0], [e - s, -1]);
      const wire = toWire(slice);
      slice.dispose();
      return worker.call({ op: 'anchorGrads', params, dh: wire }, [wire.data.buffer as ArrayBuffer]);
    }));
    const [s0, e0] = this.ownRange;
    const ownDh = tf.slice(dh, [s0, 0], [e0 - s0, -1]) as tf.Tensor2D;
    let own: ConvGrads;
    try {
      own = this.local.anchorGrads(p, ownDh);
    } finally {
      ownDh.dispose();
    }
    let replies: OkReply[];
    try {
      replies = await remote;
    } catch (error) {
      tf.dispose([...own.w, ...own.b]);
      throw error;
    }
    if (replies.length === 0) return own;
    const sums = tf.tidy(() => {
      // summed in shard order, so a given shard count always gives the same numbers
      let w: tf.Tensor4D[] = own.w;
      let b: tf.Tensor1D[] = own.b;
      for (const r of replies) {
        const g = convFromWire(r.grads!);
        w = w.map((t, l) => tf.add(t, g.w[l]!) as tf.Tensor4D);
        b = b.map((t, l) => tf.add(t, g.b[l]!) as tf.Tensor1D);
      }
      return { w, b };
    });
    tf.dispose([...own.w, ...own.b]);
    return sums as ConvGrads;
  }

  async release(): Promise<void> {
    this.local.release();
    const active = this.active;
    this.active = [];
    // Runs in the update's finally: a worker that failed must not mask the error that got us here.
    await Promise.allSettled(active.map(({ worker }) => worker.call({ op: 'release' })));
  }

  dispose(): void {
    this.local.release();
    for (const w of this.workers) w.dispose();
  }
}


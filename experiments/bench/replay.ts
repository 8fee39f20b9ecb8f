/*
 * Replay buffer costs: memory per transition (vs the reference's two full
 * stacks), sample + crop time for a CURL batch (anchor, positive, nextObs),
 * save/load throughput. One JSON object per measurement with --json.
 * Flags: --capacity 100000  --image-size 100  --crop-size 84  --frame-stack 3
 *        --action-dim 6  --episode-length 125  --io-transitions 20000
 *        --sample-transitions 20000  --repeats 20  --dir (for the save/load files)  --json
 *        --aug crop (as train's)  --aug-m 1 / --aug-k 1 (obs and next_obs views).
 * --aug (as train's, default crop) and --aug-m / --aug-k (obs and next_obs
 * views, default 1) time the sampling of other augmentations.
 */
import { rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildAugmentation } from '../../replay/aug-spec.js';
import { ReplayBuffer } from '../../replay/buffer.js';
import { Rng } from '../../src/core/rng.js';
import { ConfigError } from '../../src/core/errors.js';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      capacity: { type: 'string', default: '100000' },
      'image-size': { type: 'string', default: '100' },
      'crop-size': { type: 'string', default: '84' },
      'frame-stack': { type: 'string', default: '3' },
      'action-dim': { type: 'string', default: '6' },
      'episode-length': { type: 'string', default: '125' },
      'io-transitions': { type: 'string', default: '20000' },
      'sample-transitions': { type: 'string', default: '20000' },
      repeats: { type: 'string', default: '20' },
      dir: { type: 'string', default: tmpdir() },
      json: { type: 'boolean', default: false },
      aug: { type: 'string', default: 'crop' },
      'aug-m': { type: 'string', default: '1' },
      'aug-k': { type: 'string', default: '1' },
    },
    strict: true,
  });
  const int = (name: keyof typeof values): number => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`bench replay: --${name} must be a positive integer, got ${String(values[name])}`);
    return v;
  };
  const capacity = int('capacity');
  const imageSize = int('image-size');
  const cropSize = int('crop-size');
  const frameStack = int('frame-stack');
  const actionDim = int('action-dim');
  const episodeLength = int('episode-length');
  const repeats = int('repeats');
  const augM = int('aug-m');
  const augK = int('aug-k');
  const augmentation = buildAugmentation(String(values.aug), imageSize, cropSize);
  const emit = (record: Record<string, unknown>): void => {
    if (values.json) console.log(JSON.stringify({ bench: 'replay', ...record }));
    else console.log(Object.entries(record).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(3) : String(v)}`).join(' '));
  };
  const frameShape = [imageSize, imageSize, 3] as const;

  // Memory: typed arrays are allocated up front (zeroed lazily by the OS, so this is cheap to measure).
  {
    const buffer = new ReplayBuffer({ capacity, frameShape, actionDim, frameStack });
    const total = buffer.bytesAllocated();
    emit({
      measure: 'memory',
      capacity,
      imageSize,
      frameStack,
      actionDim,
      bytesPerTransition: total / capacity,
      totalBytes: total,
      totalGiB: total / 2 ** 30,
      referenceBytesPerTransition: 2 * frameStack * imageSize * imageSize * 3,
    });
  }

  const sampleN = Math.min(int('sample-transitions'), capacity);
  const sampler = filled(sampleN, frameShape, actionDim, frameStack, episodeLength);
  const rng = new Rng(1);
  for (const [batchSize, reuse] of [[128, false], [128, true], [512, false], [512, true]] as const) {
    const base = { cropSize, positive: true, augmentation, obsViews: augM, nextViews: augK };
    const first = sampler.sample(batchSize, rng, base); // warm-up (JIT)
    const options = { ...base, ...(reuse ? { into: first } : {}) };
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      sampler.sample(batchSize, rng, options);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    emit({
      measure: reuse ? 'sample-into' : 'sample',
      transitionsStored: sampleN,
      batchSize,
      cropSize,
      frameStack,
      aug: String(values.aug),
      views: 1 + augM + augK,
      medianMs: times[Math.floor(times.length / 2)]!,
      minMs: times[0]!,
      maxMs: times[times.length - 1]!,
      repeats,
    });
  }

  const ioN = int('io-transitions');
  const io = ioN === sampleN ? sampler : filled(ioN, frameShape, actionDim, frameStack, episodeLength);
  const path = join(values.dir, `curl-rl-bench-replay-${process.pid}.msgpack`);
  try {
    let t0 = performance.now();
    await io.save(path);
    const saveMs = performance.now() - t0;
    const bytes = statSync(path).size;
    const target = new ReplayBuffer({ capacity: ioN, frameShape, actionDim, frameStack });
    t0 = performance.now();
    await target.load(path);
    const loadMs = performance.now() - t0;
    const mb = bytes / 1e6;
    emit({ measure: 'save', transitions: ioN, fileMB: mb, ms: saveMs, MBps: mb / (saveMs / 1000) });
    emit({ measure: 'load', transitions: ioN, fileMB: mb, ms: loadMs, MBps: mb / (loadMs / 1000), note: 'load checks the whole file, then copies it (two reads)' });
  } finally {
    rmSync(path, { force: true });
  }
}

/** A buffer of `n` frame slots, full, with episodes of `episodeLength` steps and arbitrary pixels. */
function filled(n: number, frameShape: readonly [number, number, number], actionDim: number, frameStack: number, episodeLength: number): ReplayBuffer {
  const buffer = new ReplayBuffer({ capacity: n, frameShape, actionDim, frameStack });
  const rng = new Rng(0);
  const pool = Array.from({ length: 8 }, () => Uint8Array.from({ length: frameShape[0] * frameShape[1] * 3 }, () => rng.int(256)));
  const action = new Float32Array(actionDim);
  let written = 0;
  while (written < n + 1) {
    buffer.addReset(pool[written % pool.length]!);
    written++;
    for (let t = 0; t < episodeLength && written < n + 1; t++, written++) {
      action.fill(t / episodeLength);
      buffer.addStep({ action, reward: 1, terminated: false, truncated: t === episodeLength - 1, nextFrame: pool[written % pool.length]! });
    }
  }
  return buffer;
}

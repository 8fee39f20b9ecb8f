/*
 * Adam's step late in a run, when most of the heads' first moments belong to
 * dead ReLU units: their gradient is zero, so m decays by beta1 into the
 * subnormal range (below 2^-126), and x86 takes a microcode assist on every
 * subnormal operand. agents/adam.ts and the native kernel store such moments
 * as zero (on one step in 16); this times a step over the heads' parameters
 * with moments as a fresh run has them and as a 100k-step run had them (82%
 * of q1.w1's m was subnormal), on the native kernel (when built) and on tfjs.
 * The first step, one that flushes, pays the assists once; the median of the
 * steps after it is what an update pays each time.
 * Flags: --params 4000000 (the twin critics' head, about 4 M)  --dead 0.8
 *        (fraction of parameters with zero gradient and subnormal m)
 *        --repeats 10  --threads 2 (the native kernel's)  --engine both|native|tfjs
 *        --backend wasm (tfjs' backend)  --json
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { Adam, SUBNORMAL_FLUSH_EVERY } from '../../agents/adam.js';
import { createHeadKernels } from '../../agents/head-kernels.js';
import { loadConvAddon } from '../../agents/native/addon.js';
import { initBackend } from '../../src/backend.js';
import { backendNames, type BackendName } from '../../src/core/backend-names.js';
import { ConfigError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';

/** Four ulps of the smallest subnormal: where m * 0.9 rounds back to itself, so a dead unit's m stays here for good. */
const STUCK_SUBNORMAL = 4 * 2 ** -149;

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      params: { type: 'string', default: '4000000' },
      dead: { type: 'string', default: '0.8' },
      repeats: { type: 'string', default: '10' },
      threads: { type: 'string', default: '2' },
      engine: { type: 'string', default: 'both' },
      backend: { type: 'string', default: 'wasm' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (name: 'params' | 'repeats' | 'threads'): number => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`bench adam: --${name} must be a positive integer, got ${values[name]}`);
    return v;
  };
  const size = int('params');
  const repeats = int('repeats');
  const threads = int('threads');
  const dead = Number(values.dead);
  if (!(dead >= 0 && dead <= 1)) throw new ConfigError(`bench adam: --dead must be a fraction in [0, 1], got ${values.dead}`);
  if (!['both', 'native', 'tfjs'].includes(String(values.engine))) throw new ConfigError(`bench adam: --engine must be both, native or tfjs, got ${values.engine}`);
  if (!(backendNames as readonly string[]).includes(String(values.backend))) {
    throw new ConfigError(`bench adam: --backend must be one of ${backendNames.join(', ')}, got ${values.backend}`);
  }
  const backend = (await initBackend(values.backend as BackendName)).name;
  const emit = (record: Record<string, unknown>): void => {
    if (values.json) console.log(JSON.stringify({ bench: 'adam', ...record }));
    else console.log(Object.entries(record).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(3) : String(v)}`).join(' '));
  };

  const engines: Array<'native' | 'tfjs'> = values.engine === 'both' ? ['native', 'tfjs'] : [values.engine as 'native' | 'tfjs'];
  for (const engine of engines) {
    if (engine === 'native' && !loadConvAddon().available) {
      emit({ engine, skipped: 'the native engine is not built (npm run build:native)' });
      continue;
    }
    const kernels = engine === 'native' ? createHeadKernels({ engine: 'libtorch', threads }).native : null;
    for (const state of ['fresh', 'late'] as const) {
      const rng = new Rng(1);
      const isDead = Uint8Array.from({ length: size }, () => (state === 'late' && rng.uniform() < dead ? 1 : 0));
      const grad = tf.tensor1d(Float32Array.from(isDead, (d) => (d ? 0 : rng.normal() * 1e-3)));
      const param = tf.variable(tf.tensor1d(Float32Array.from({ length: size }, () => rng.normal() * 0.03)));
      const adam = new Adam(new Map([['w', param]]), ['w'], { lr: 1e-3, beta1: 0.9 }, kernels);
      // moments as a run leaves them: live units' m ~ their gradient, dead units' m stuck at a few ulps;
      // at a step count whose next step is one that flushes (agents/adam.ts), as one in 16 is
      adam.setState(
        {
          t: 10 * SUBNORMAL_FLUSH_EVERY - 1,
          m: { w: Float32Array.from(isDead, (d) => (d ? STUCK_SUBNORMAL : rng.normal() * 1e-4)) },
          v: { w: Float32Array.from(isDead, (d) => (d ? 1e-12 : 1e-6)) },
        },
        'bench adam',
      );
      const grads = new Map([['w', grad]]);
      const timeStep = async (): Promise<number> => {
        const t0 = performance.now();
        adam.step(grads);
        await param.data(); // tfjs is lazy on some backends: wait for the values
        return performance.now() - t0;
      };
      const firstMs = await timeStep();
      const subnormalAfter = countSubnormal((await adam.getState()).m.w!);
      const times: number[] = [];
      for (let r = 0; r < repeats; r++) times.push(await timeStep());
      times.sort((a, b) => a - b);
      emit({
        engine: engine === 'native' ? 'libtorch' : `tfjs-${backend}`,
        threads: engine === 'native' ? threads : 1,
        moments: state,
        params: size,
        deadFraction: state === 'late' ? dead : 0,
        firstStepMs: firstMs,
        medianMs: times[Math.floor(times.length / 2)]!,
        minMs: times[0]!,
        subnormalMomentsAfterFirstStep: subnormalAfter,
        repeats,
      });
      adam.dispose();
      tf.dispose([grad, param]);
    }
  }
}

function countSubnormal(x: Float32Array): number {
  let n = 0;
  for (const v of x) if (v !== 0 && Math.abs(v) < 2 ** -126) n++;
  return n;
}

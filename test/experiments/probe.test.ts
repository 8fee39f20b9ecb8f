import { describe, expect, it } from 'vitest';
import { collectEpisodes, type FeatureFn } from '../../experiments/probe/collect.js';
import { heldOutEpisodes, probeRun, scoreProbe } from '../../experiments/probe/probe.js';
import { fitRidge, fitRidgeCv, matrix, predictRidge, rSquared, solveSpd } from '../../experiments/probe/ridge.js';
import { makeEnv } from '../../envs/registry.js';
import { stateReaderOf, type PhysicalState, type StateReadable } from '../../envs/state.js';
import { boxSpace, type Env, type ResetOptions, type StepResult } from '../../envs/types.js';
import { Rng } from '../../src/core/rng.js';
import { train } from '../../src/loop/train.js';
import { tinyConfig } from '../loop/helpers.js';

describe('ridge regression', () => {
  it('solves a symmetric positive definite system', () => {
    // [[4, 2], [2, 3]] x = [2, 1] -> x = [0.5, 0]
    const x = solveSpd(matrix(2, 2, [4, 2, 2, 3]), matrix(2, 1, [2, 1]));
    expect([...x.data].map((v) => Math.round(v * 1e12) / 1e12)).toEqual([0.5, 0]);
    expect(() => solveSpd(matrix(2, 2, [1, 2, 2, 1]), matrix(2, 1, [1, 1]))).toThrow(/not positive definite/);
  });

  it('recovers an exact line, and shrinks towards the mean as the penalty grows', () => {
    const x = matrix(4, 1, [1, 2, 3, 4]);
    const y = matrix(4, 1, [3, 5, 7, 9]);
    expect(predictRidge(fitRidge(x, y, 1e-12), matrix(1, 1, [5])).data[0]).toBeCloseTo(11, 9);
    // standardised: x's z-scores z, y = 6 + sqrt(5) z; w = n/(n + lambda) with n = 4 (z'z = n for unit-variance columns)
    const shrunk = predictRidge(fitRidge(x, y, 4), matrix(1, 1, [4])).data[0]!;
    const z4 = (4 - 2.5) / Math.sqrt(1.25);
    expect(shrunk).toBeCloseTo(6 + Math.sqrt(5) * 0.5 * z4, 9);
  });

  it('scores R^2 as 1 - SSE/SST about the scored rows\' mean: the mean scores 0, a constant target NaN', () => {
    const truth = matrix(3, 2, [1, 5, 2, 5, 3, 5]);
    expect(rSquared(truth, matrix(3, 2, [2, 5, 2, 5, 2, 5]))).toEqual([0, Number.NaN]);
    expect(rSquared(truth, matrix(3, 2, [1, 5, 2, 5, 4, 5]))[0]).toBeCloseTo(1 - 1 / 2, 12);
  });

  it('gives features unrelated to the target about nothing on held-out groups, although they fit the training rows', () => {
    const rng = new Rng(5);
    const rows = 400;
    const dims = 50;
    const x = matrix(rows, dims, Array.from({ length: rows * dims }, () => rng.normal()));
    const y = matrix(rows, 1, Array.from({ length: rows }, () => rng.normal()));
    const groups = Array.from({ length: rows }, (_, r) => Math.floor(r / 20));
    const train = Array.from({ length: 300 }, (_, r) => r);
    const test = Array.from({ length: 100 }, (_, r) => 300 + r);
    const pick = (m: typeof x, idx: number[]) => matrix(idx.length, m.cols, idx.flatMap((r) => [...m.data.subarray(r * m.cols, (r + 1) * m.cols)]));
    const inSample = rSquared(pick(y, train), predictRidge(fitRidge(pick(x, train), pick(y, train), 1e-4), pick(x, train)))[0]!;
    expect(inSample).toBeGreaterThan(0.1);
    const model = fitRidgeCv(pick(x, train), pick(y, train), groups.slice(0, 300));
    const heldOut = rSquared(pick(y, test), predictRidge(model, pick(x, test)))[0]!;
    expect(heldOut).toBeLessThan(0.05);
    expect(model.lambda).toBeGreaterThanOrEqual(100);
  });
});

/**
 * A task whose frames are a known linear function of its state: a 3-d random
 * walk s, drawn as pixel = 128 + A s (no clipping at these amplitudes).
 */
class LinearPixelsEnv implements Env<Uint8Array, Float32Array>, StateReadable {
  readonly id = 'linear-pixels';
  readonly observationSpace = boxSpace([8, 8, 3], 'uint8', 0, 255);
  readonly actionSpace = boxSpace([3], 'float32', -1, 1);
  private readonly weights: Float64Array;
  private state = new Float64Array(3);
  private t = 0;
  private rng = new Rng(0);

  constructor() {
    const rng = new Rng(11);
    this.weights = Float64Array.from({ length: 8 * 8 * 3 * 3 }, () => rng.normal() * 10);
  }

  private frame(): Uint8Array {
    const out = new Uint8Array(8 * 8 * 3);
    for (let p = 0; p < out.length; p++) {
      let v = 128;
      for (let k = 0; k < 3; k++) v += this.weights[p * 3 + k]! * this.state[k]!;
      out[p] = Math.max(0, Math.min(255, Math.round(v)));
    }
    return out;
  }

  reset(options: ResetOptions = {}): { observation: Uint8Array; info: Record<string, unknown> } {
    this.rng = new Rng(options.seed ?? 0);
    this.state = Float64Array.from({ length: 3 }, () => this.rng.normal() * 0.5);
    this.t = 0;
    return { observation: this.frame(), info: {} };
  }

  step(action: Float32Array): StepResult<Uint8Array> {
    for (let k = 0; k < 3; k++) this.state[k] = 0.8 * this.state[k]! + 0.2 * action[k]! + 0.1 * this.rng.normal();
    this.t += 1;
    return { observation: this.frame(), reward: 0, terminated: false, truncated: this.t >= 40, info: {} };
  }

  physicalState(): PhysicalState {
    return { names: ['s0', 's1', 's2'], values: Float64Array.from(this.state) };
  }

  close(): void {}
}

describe('the probe on a task whose state is a linear function of its pixels', () => {
  const geometry = { imageSize: 8, cropSize: 6, frameStack: 2 };

  it('reaches R^2 close to 1 with features linear in the pixels, and about 0 with features that ignore them', async () => {
    const rng = new Rng(3);
    const cropLength = 6 * 6 * 6;
    const projection = Float64Array.from({ length: cropLength * 16 }, () => rng.normal());
    const linear: FeatureFn = (obs, count) => {
      const out = new Float32Array(count * 16);
      for (let n = 0; n < count; n++) {
        for (let j = 0; j < 16; j++) {
          let v = 0;
          for (let p = 0; p < cropLength; p++) v += obs[n * cropLength + p]! * projection[p * 16 + j]!;
          out[n * 16 + j] = v / cropLength;
        }
      }
      return out;
    };
    const noise = new Rng(9);
    const blind: FeatureFn = (_obs, count) => Float32Array.from({ length: count * 16 }, () => noise.normal());
    const env = new LinearPixelsEnv();
    const data = await collectEpisodes(env as unknown as Env, geometry, { seeds: [1, 2, 3, 4, 5, 6, 7, 8], actor: 'random', encoders: [linear, blind] });
    expect(data.samples).toBe(8 * 40);
    expect(data.stateNames).toEqual(['s0', 's1', 's2']);
    const { heldOut, sources } = heldOutEpisodes([{ source: 'random', episodes: 8 }], 0.25);
    expect([...heldOut]).toEqual([6, 7]);
    const report = scoreProbe(data, ['linear', 'blind'], heldOut, sources);
    for (const name of data.stateNames) expect(report.scores.linear!.r2[name]).toBeGreaterThan(0.99);
    expect(report.scores.blind!.meanR2).toBeLessThan(0.05);
    expect(report.samples).toEqual({ train: 240, heldOut: 80 });
  });

  it('refuses an env that cannot say its state', async () => {
    const env = { id: 'opaque', observationSpace: boxSpace([8, 8, 3], 'uint8', 0, 255), actionSpace: boxSpace([1], 'float32', -1, 1), reset: () => ({ observation: new Uint8Array(192), info: {} }), step: () => ({ observation: new Uint8Array(192), reward: 0, terminated: true, truncated: false, info: {} }), close: () => undefined };
    await expect(collectEpisodes(env as Env, geometry, { seeds: [1], actor: 'random', encoders: [] })).rejects.toThrow(/does not expose its physical state/);
  });
});

describe('physical state of the built-in tasks', () => {
  it("cartpole: the slider's position, the hinge angle as cos and sin, and both velocities, through the wrappers", async () => {
    const env = await makeEnv('cartpole-swingup', { imageSize: 32, actionRepeat: 2, seed: 4 });
    try {
      await env.reset({ seed: 4 });
      const reader = stateReaderOf(env)!;
      const start = reader.physicalState();
      expect(start.names).toEqual(['slider.pos', 'hinge.cos', 'hinge.sin', 'slider.vel', 'hinge.vel']);
      // swing-up starts hanging down (angle pi + a little noise)
      expect(start.values[1]).toBeLessThan(-0.99);
      await env.step(Float32Array.from([1]));
      const after = reader.physicalState().values;
      expect(after[1]! ** 2 + after[2]! ** 2).toBeCloseTo(1, 12);
      expect(after[3]).toBeGreaterThan(0); // pushed right
    } finally {
      await env.close();
    }
  });
});

describe('curl-rl probe on a run', () => {
  it("scores a run that never updated exactly as its encoder at initialisation, and repeats itself under a seed", async () => {
    // 40 agent steps, all before the first update (initSteps 60): the checkpoint holds the initial weights
    const config = tinyConfig({ backend: 'wasm', steps: 40 * 4, evalEvery: 40 * 4, checkpointEvery: 40 * 4 });
    const run = await train({ config, progress: 'none', log: () => {} });
    const options = { policyEpisodes: 2, randomEpisodes: 3, seed: 7, heldOutFraction: 0.4, log: () => {} };
    const first = await probeRun(run.runDir, options);
    expect(first.stateNames).toEqual(['dot.x', 'dot.y', 'target.x', 'target.y']);
    expect(first.episodes).toEqual({ train: 3, heldOut: 2 });
    expect(first.scores.trained).toEqual(first.scores.initial);
    expect(Object.keys(first.scores.trained!.bySource).sort()).toEqual(['policy', 'random']);
    const again = await probeRun(run.runDir, options);
    expect(again.scores).toEqual(first.scores);
  }, 120_000);
});

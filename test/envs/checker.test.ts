import { describe, expect, it } from 'vitest';
import { checkEnv } from '../../envs/checker.js';
import { EnvCheckError } from '../../envs/errors.js';
import { listEnvs, makeEnv } from '../../envs/registry.js';
import { boxSpace, type Env, type StepResult } from '../../envs/types.js';
import { CountingEnv } from './fake-env.js';

describe('checkEnv on the registry', () => {
  it.each(listEnvs().map((e) => e.id))('%s passes (default image size, action repeat 2, frame stack 3)', async (id) => {
    const env = await makeEnv(id, { seed: 3, actionRepeat: 2 });
    await expect(checkEnv(env, { seed: 5, steps: 4 })).resolves.toBeUndefined();
    await env.close();
    const stacked = await makeEnv(id, { imageSize: 24, frameStack: 3 });
    await expect(checkEnv(stacked, { seed: 1, steps: 3 })).resolves.toBeUndefined();
    await stacked.close();
  });
});

/** Valid except for the flaws switched on; each flaw must show up in the report. */
class FlawedEnv extends CountingEnv {
  constructor(private readonly flaws: { wrongDtype?: boolean; randomReward?: boolean; acceptsNaN?: boolean; badShape?: boolean }) {
    super();
  }
  override step(action: Float32Array): StepResult<Uint8Array> {
    if (!this.flaws.acceptsNaN && (action.length !== 1 || Number.isNaN(action[0]))) throw new Error('bad action');
    const r = super.step(action);
    const observation = this.flaws.wrongDtype ? (new Float32Array(12) as unknown as Uint8Array) : this.flaws.badShape ? new Uint8Array(5) : r.observation;
    return { ...r, observation, reward: this.flaws.randomReward ? Math.random() : r.reward };
  }
}

describe('checkEnv finds problems', () => {
  it('passes a valid env', async () => {
    await expect(checkEnv(new FlawedEnv({}))).resolves.toBeUndefined();
  });

  it('lists every problem at once', async () => {
    const err = await checkEnv(new FlawedEnv({ wrongDtype: true, randomReward: true, acceptsNaN: true })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvCheckError);
    const text = (err as EnvCheckError).problems.join('\n');
    expect(text).toMatch(/step 0: observation must be a Uint8Array \(dtype uint8\), got Float32Array/);
    expect(text).toMatch(/same seed and actions gave different rewards at step 0/);
    expect(text).toMatch(/step\(\) accepted an action of length 2/);
    expect(text).toMatch(/step\(\) accepted an action containing NaN/);
  });

  it('reports wrong observation sizes and bad spaces', async () => {
    const err = (await checkEnv(new FlawedEnv({ badShape: true })).catch((e: unknown) => e)) as EnvCheckError;
    expect(err.problems.join('\n')).toMatch(/observation has 5 elements, space shape \[2,2,3\] needs 12/);
    const bad = { id: 'bad', observationSpace: boxSpace([0, 2], 'uint8', 0, 255), actionSpace: boxSpace([1], 'float32', 1, -1) } as unknown as Env;
    const e2 = (await checkEnv(bad).catch((e: unknown) => e)) as EnvCheckError;
    expect(e2.problems).toEqual([
      'observationSpace: shape must be positive integers, got [0,2]',
      'actionSpace: low[0] = 1 > high[0] = -1',
    ]);
  });

  it('reports a reset that is not reproducible under a seed', async () => {
    const env = new CountingEnv();
    let calls = 0;
    env.reset = () => ({ observation: new Uint8Array(12).fill(calls++), info: {} });
    const err = (await checkEnv(env as Env).catch((e: unknown) => e)) as EnvCheckError;
    expect(err.problems).toContain('reset({seed: 0}) twice gave different first observations');
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { makeEnv } from '../../envs/registry.js';
import { testServerCommand } from '../../envs/remote/index.js';
import type { Env } from '../../envs/types.js';

// The agent's tanh policy acts in [-1, 1]; a remote env with other finite bounds is rescaled onto them.
describe("a remote env's Box action bounds", () => {
  const opened: Env[] = [];
  afterEach(async () => {
    for (const env of opened.splice(0)) await env.close();
  });
  async function open(bounds?: string): Promise<Env> {
    const env = await makeEnv('remote', { remoteCmd: testServerCommand(bounds === undefined ? [] : [`--action-bounds=${bounds}`]), remoteTimeoutMs: 20_000 });
    opened.push(env);
    await env.reset({ seed: 1 });
    return env;
  }
  const received = async (env: Env, action: number[]): Promise<number[]> => (await env.step(Float32Array.from(action))).info.action as number[];

  it('[-1, 1] spans [0, 4]: the agent sees [-1, 1] and the env gets its whole range', async () => {
    const env = await open('0,4');
    expect(env.actionSpace).toMatchObject({ kind: 'box', shape: [2], low: -1, high: 1 });
    expect(await received(env, [-1, 1])).toEqual([0, 4]);
    expect(await received(env, [0, 0.5])).toEqual([2, 3]);
  });

  it('an env already in [-1, 1], or with an infinite bound, gets the actions unchanged', async () => {
    for (const bounds of [undefined, '-Infinity,Infinity']) {
      const env = await open(bounds);
      expect(env.actionSpace, bounds).toMatchObject({ low: bounds === undefined ? -1 : -Infinity });
      expect(await received(env, [-0.75, 0.25]), bounds).toEqual([-0.75, 0.25]);
    }
  });
});

import msgpack from 'msgpack-lite';
import { describe, expect, it } from 'vitest';
import { EnvError, UnknownEnvError } from '../../envs/errors.js';
import { listEnvs, makeEnv } from '../../envs/registry.js';
import { ConfigError } from '../../src/core/errors.js';

async function episodeLength(id: string, actionRepeat: number): Promise<{ steps: number; episode: unknown; terminated: boolean }> {
  const env = await makeEnv(id, { imageSize: 8, actionRepeat, seed: 1 });
  await env.reset({ seed: 1 });
  const action = new Float32Array(listEnvs().find((e) => e.id === id)!.actionDim);
  let steps = 0;
  for (;;) {
    const r = await env.step(action);
    steps++;
    if (r.terminated || r.truncated) {
      await env.close();
      return { steps, episode: r.info['episode'], terminated: r.terminated };
    }
  }
}

describe('registry', () => {
  it('lists the eight MuJoCo tasks and toy-reach with their action dims', () => {
    const dims = Object.fromEntries(listEnvs().map((e) => [e.id, e.actionDim]));
    expect(dims).toEqual({
      'cartpole-swingup': 1,
      'cartpole-balance': 1,
      'pendulum-swingup': 1,
      'finger-spin': 2,
      'reacher-easy': 2,
      'cheetah-run': 6,
      'walker-walk': 6,
      'ball_in_cup-catch': 2,
      'toy-reach': 2,
    });
    for (const e of listEnvs()) expect(e.episodeSteps).toBe(1000);
  });

  it('makes envs with the requested image size and frame stack', async () => {
    const env = await makeEnv('pendulum-swingup', { imageSize: 64, frameStack: 3 });
    expect(env.observationSpace).toMatchObject({ kind: 'box', shape: [64, 64, 9], dtype: 'uint8' });
    expect(env.actionSpace).toMatchObject({ kind: 'box', shape: [1], low: -1, high: 1 });
    const { observation } = await env.reset({ seed: 0 });
    expect((observation as Uint8Array).length).toBe(64 * 64 * 9);
    await env.close();
  });

  it('truncates after 1000 control steps: ceil(1000 / actionRepeat) agent steps, never terminated', async () => {
    expect(await episodeLength('cartpole-swingup', 8)).toMatchObject({ steps: 125, terminated: false });
    const toy = await episodeLength('toy-reach', 3);
    expect(toy).toMatchObject({ steps: 334, terminated: false });
    expect((toy.episode as { length: number }).length).toBe(334);
  });

  it('rejects unknown ids and bad options with clear errors', async () => {
    await expect(makeEnv('cartpole-swing')).rejects.toThrow(UnknownEnvError);
    await expect(makeEnv('cartpole-swing')).rejects.toThrow(/registered ids: cartpole-swingup, .*toy-reach, remote/);
    await expect(makeEnv('cartpole-swing')).rejects.toBeInstanceOf(ConfigError);
    await expect(makeEnv('toy-reach', { actionRepeat: 0 })).rejects.toThrow(/actionRepeat must be an integer >= 1, got 0/);
    await expect(makeEnv('toy-reach', { imageSize: 2.5 })).rejects.toThrow(EnvError);
  });

  it('same seed and actions give identical frames and rewards through the wrapper stack', async () => {
    const run = async (): Promise<{ frames: Buffer[]; rewards: number[] }> => {
      const env = await makeEnv('ball_in_cup-catch', { imageSize: 32, actionRepeat: 4, frameStack: 3 });
      const frames = [Buffer.from((await env.reset({ seed: 9 })).observation as Uint8Array)];
      const rewards: number[] = [];
      for (let t = 0; t < 5; t++) {
        const r = await env.step(Float32Array.of(Math.sin(t), Math.cos(t)));
        frames.push(Buffer.from(r.observation as Uint8Array));
        rewards.push(r.reward);
      }
      await env.close();
      return { frames, rewards };
    };
    const a = await run();
    const b = await run();
    expect(b.rewards).toEqual(a.rewards);
    a.frames.forEach((f, i) => expect(Buffer.compare(f, b.frames[i]!)).toBe(0));
  });

  it.each(['toy-reach', 'finger-spin'])('%s: the whole wrapper stack snapshots and restores through msgpack', async (id) => {
    const env = await makeEnv(id, { imageSize: 16, actionRepeat: 2, frameStack: 2, seed: 2 });
    await env.reset({ seed: 2 });
    await env.step(Float32Array.of(1, 0));
    const snap = msgpack.decode(msgpack.encode((env as unknown as { getSnapshot(): Record<string, unknown> }).getSnapshot())) as unknown;
    const next = await env.step(Float32Array.of(0, 1));
    await env.reset({ seed: 5 });
    await env.step(Float32Array.of(-1, -1));
    (env as unknown as { restoreSnapshot(s: unknown): void }).restoreSnapshot(snap);
    const again = await env.step(Float32Array.of(0, 1));
    expect(again.reward).toBe(next.reward);
    expect(Buffer.compare(Buffer.from(again.observation as Uint8Array), Buffer.from(next.observation as Uint8Array))).toBe(0);
    await env.close();
  });
});

/*
 * A real Gymnasium environment behind the Python bridge: training runs a few
 * updates on Pendulum-v1 rendered to pixels, and the frames and rewards the
 * agent stored equal what Gymnasium itself returns when the same seeds and
 * actions (mapped from the agent's [-1, 1] onto Pendulum's torque range) are
 * replayed in Python, without the bridge. The Python with
 * gymnasium and pygame comes from .ci/run (see test/python-env.ts).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinCommand } from '../../envs/remote/command.js';
import { train } from '../../src/loop/train.js';
import { episodeSeed } from '../../src/loop/trainer.js';
import { readMetrics } from '../../src/run/metrics.js';
import { repoRoot, tempDir, tinyConfig } from '../loop/helpers.js';
import { findTestPython, pipInstallHint, runPythonJson } from '../python-env.js';
import { pidsWithArg } from './helpers.js';

const python = findTestPython(['gymnasium', 'pygame', 'msgpack', 'numpy']);
if (!python) console.warn(`skipping the Gymnasium tests: no Python with gymnasium, pygame, msgpack and numpy (${pipInstallHint})`);

describe('the Gymnasium tests in CI', () => {
  it.runIf(process.env.CI === 'true')('find a Python with gymnasium, pygame, msgpack and numpy (.ci/run installs them)', () => {
    expect(python, `no such Python: ${pipInstallHint}`).toBeTruthy();
  });
});

/** Gymnasium alone, no bridge: each episode reset with its seed, each action repeated, frames resized by explicit index arithmetic. */
const REPLAY = `
import base64, json, sys
import numpy as np
import gymnasium as gym

args = json.load(sys.stdin)
size, repeat = args["size"], args["repeat"]

def pixels(env):
    frame = np.asarray(env.render())
    # nearest neighbour: row i of the small frame is row floor(i * H / size) of the render
    rows = (np.arange(size) * frame.shape[0]) // size
    cols = (np.arange(size) * frame.shape[1]) // size
    return base64.b64encode(np.ascontiguousarray(frame[rows][:, cols], dtype=np.uint8).tobytes()).decode("ascii")

env = gym.make("Pendulum-v1", render_mode="rgb_array")
# the agent acts in [-1, 1]; curl-rl maps that onto the env's Box bounds (envs/wrappers/rescale-action.ts),
# for Pendulum-v1 torques in [-2, 2]
low = env.action_space.low.astype(np.float64)
high = env.action_space.high.astype(np.float64)
out = []
for episode in args["episodes"]:
    env.reset(seed=episode["seed"])
    frames, rewards, ends = [pixels(env)], [], []
    for action in episode["actions"]:
        total, terminated, truncated = 0.0, False, False
        for _ in range(repeat):
            torque = low + (np.asarray(action, dtype=np.float64) + 1) / 2 * (high - low)
            _, reward, terminated, truncated, _ = env.step(torque.astype(np.float32))
            total += float(reward)
            if terminated or truncated:
                break
        rewards.append(total)
        ends.append([bool(terminated), bool(truncated)])
        frames.append(pixels(env))
    out.append({"frames": frames, "rewards": rewards, "ends": ends})
env.close()
print(json.dumps(out))
`;

interface Episode {
  seed: number;
  frames: Uint8Array[];
  actions: number[][];
  rewards: number[];
  ends: Array<[boolean, boolean]>;
}

describe.skipIf(!python)('training on Gymnasium Pendulum-v1 through the bridge', () => {
  it('trains a few updates, and every frame and reward the agent stored is what Gymnasium returns for the same seeds and actions', async () => {
    const size = 32;
    const repeat = 2;
    const bridge = join(repoRoot, 'envs', 'remote', 'bridge.py');
    const remoteCmd = joinCommand([python!, bridge, '--env', 'gymnasium:make', '--env-id', 'Pendulum-v1', '--pixels', '--image-size', String(size)]);
    // Pendulum-v1 truncates at 200 steps: 100 agent steps at action repeat 2, so 130 agent steps cross an episode boundary
    const config = tinyConfig({
      env: 'remote',
      remoteCmd,
      imageSize: size,
      cropSize: 28,
      actionRepeat: repeat,
      steps: 130 * repeat,
      initSteps: 40,
      evalEvery: 1000 * repeat,
      logEvery: 30 * repeat,
      checkpointEvery: 1000 * repeat,
      remoteStartupTimeoutMs: 120_000,
    });
    const episodes: Episode[] = [];
    let updates = 0;
    const outcome = await train({
      config,
      runDir: join(tempDir(), 'pendulum'),
      progress: 'none',
      log: () => {},
      onStart: (trainer) => {
        trainer.events.subscribe((e) => void (e.type === 'update' && updates++));
        const { replay } = trainer;
        const addReset = replay.addReset.bind(replay);
        const addStep = replay.addStep.bind(replay);
        replay.addReset = (frame) => {
          episodes.push({ seed: episodeSeed(config.seed, episodes.length), frames: [frame.slice()], actions: [], rewards: [], ends: [] });
          addReset(frame);
        };
        replay.addStep = (step) => {
          const episode = episodes[episodes.length - 1]!;
          episode.frames.push(step.nextFrame.slice());
          episode.actions.push(Array.from(step.action));
          episode.rewards.push(step.reward);
          episode.ends.push([step.terminated, step.truncated]);
          addStep(step);
        };
      },
    });
    expect(outcome.state, outcome.reason).toBe('finished');
    expect(updates).toBe(130 - 40);
    expect(readMetrics(join(outcome.runDir, 'metrics.jsonl')).filter((r) => r.type === 'train').length).toBeGreaterThan(2);
    expect(episodes.map((e) => e.actions.length)).toEqual([100, 30]);
    expect(episodes[0]!.ends.at(-1)).toEqual([false, true]);

    const replayed = runPythonJson<Array<{ frames: string[]; rewards: number[]; ends: Array<[boolean, boolean]> }>>(
      python!,
      REPLAY,
      { size, repeat, episodes: episodes.map((e) => ({ seed: e.seed, actions: e.actions })) },
      { timeoutMs: 300_000 },
    );
    episodes.forEach((episode, i) => {
      const gym = replayed[i]!;
      expect(gym.rewards, `episode ${i} rewards`).toEqual(episode.rewards);
      expect(gym.ends, `episode ${i} ends`).toEqual(episode.ends);
      expect(gym.frames.length).toBe(episode.frames.length);
      gym.frames.forEach((frame, t) => {
        const equal = Buffer.from(frame, 'base64').equals(Buffer.from(episode.frames[t]!));
        expect(equal, `episode ${i}, frame ${t}`).toBe(true);
      });
    });
    // the frames are pictures of a pendulum, not blank: Gymnasium's white background and a dark-red rod
    expect(new Set(episodes[0]!.frames[50]).size).toBeGreaterThan(2);
    // no bridge process outlives the run
    expect(pidsWithArg(bridge)).toEqual([]);
  });
});

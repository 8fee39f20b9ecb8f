import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkEnv } from '../../envs/checker.js';
import {
  BRIDGE_PATH,
  createRemoteEnv,
  fetchRemoteSpec,
  joinCommand,
  RemoteEnv,
  RemoteEnvRaisedError,
  RemoteProcessExitedError,
  RemoteTimeoutError,
} from '../../envs/remote/index.js';
import { closedAfterEach, findBridgePython, pidExists, pidsWithArg, watchArg } from './helpers.js';

/**
 * A pure-Python pixel env with the Gymnasium API (no gymnasium import): frame
 * bytes follow a formula the test recomputes, a step prints to stdout (which
 * must not reach the channel), and special actions raise or crash.
 */
const TINY_ENV = `
import os, sys, time
import numpy as np

class Box:
    def __init__(self, low, high, shape, dtype):
        self.low, self.high, self.shape, self.dtype = low, high, shape, np.dtype(dtype)

class Discrete:
    def __init__(self, n):
        self.n = n

def pattern(seed, t, size):
    y, x, c = np.meshgrid(np.arange(size), np.arange(size), np.arange(3), indexing="ij")
    return ((seed * 7 + t * 13 + y * 31 + x * 17 + c * 101) % 256).astype(np.uint8)

class PixelEnv:
    def __init__(self, size=12, render_mode=None):
        self.size = size
        self.render_mode = render_mode
        self.observation_space = Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = Box(np.array([-1.0, -2.0]), np.array([1.0, 2.0]), (2,), np.float32)
        self.seed, self.t = 0, 0

    def reset(self, seed=None, options=None):
        self.seed = self.seed + 1 if seed is None else seed
        self.t = 0
        return pattern(self.seed, 0, self.size), {"seed": self.seed, "scale": np.float32(0.5)}

    def step(self, action):
        if action[0] > 0.9:
            raise ValueError("action %.2f too large for this test env" % action[0])
        if action[0] < -0.9:
            sys.stderr.write("tiny env: crashing on purpose\\n"); sys.stderr.flush()
            os._exit(7)
        if action[1] > 1.9:
            time.sleep(60)
        print("stray print from step", self.t)  # must end up on stderr, not the channel
        self.t += 1
        reward = float(action[0]) - float(action[1])
        return pattern(self.seed, self.t, self.size), reward, False, self.t >= 4, {"t": np.int64(self.t)}

    def render(self):
        return pattern(self.seed, self.t, self.size)[::-1].copy()

class CountEnv:
    """State observations (float64) and a Discrete action space."""
    def __init__(self):
        self.observation_space = Box(-10.0, 10.0, (3,), np.float64)
        self.action_space = Discrete(3)

    def reset(self, seed=None, options=None):
        self.x = np.array([0.0, 0.5, float(seed or 0) / 10])
        return self.x.copy(), {}

    def step(self, action):
        self.x[0] += int(action)
        return self.x.copy(), float(action), bool(self.x[0] >= 4), False, {}

def make_pixels(size=12, render_mode=None):
    return PixelEnv(size, render_mode)

def make_count():
    return CountEnv()

def make_broken(tag=None):
    time.sleep(0.3)  # long enough for the test to see the process before it fails
    raise RuntimeError("factory failed on purpose")
`;

/** Stand-ins with the real packages' call shapes, to exercise the bridge's adapters without installing them. */
const FAKE_GYMNASIUM = `
import tinyenv
calls = []
def make(env_id, render_mode=None, **kwargs):
    assert env_id == "Tiny-v0", env_id
    assert render_mode == "rgb_array", render_mode
    return tinyenv.PixelEnv(8, render_mode)
`;

const FAKE_DMC_SUITE = `
import numpy as np

class Spec:
    def __init__(self, shape, minimum=None, maximum=None):
        self.shape, self.minimum, self.maximum = shape, minimum, maximum

class TimeStep:
    def __init__(self, kind, reward, discount, observation):
        self.kind, self.reward, self.discount, self.observation = kind, reward, discount, observation
    def last(self):
        return self.kind == "last"

class Physics:
    def __init__(self, env):
        self.env = env
    def render(self, height, width, camera_id):
        value = (self.env.seed * 10 + self.env.t + camera_id) % 256
        return np.full((height, width, 3), value, dtype=np.uint8)

class Env:
    def __init__(self, domain, task, seed):
        assert (domain, task) == ("cartpole", "swingup")
        self.seed, self.t = seed or 0, 0
        self.physics = Physics(self)
    def action_spec(self):
        return Spec((1,), np.array([-1.0]), np.array([1.0]))
    def observation_spec(self):
        return {"position": Spec((3,)), "velocity": Spec((2,))}
    def _obs(self):
        return {"position": np.array([self.t, 1.0, 2.0]), "velocity": np.array([[self.seed, -1.0]])}
    def reset(self):
        self.t = 0
        return TimeStep("first", None, None, self._obs())
    def step(self, action):
        assert action.dtype == np.float64 and action.shape == (1,)
        self.t += 1
        last = self.t >= 3
        return TimeStep("last" if last else "mid", float(action[0]) * 0.5, 1.0, self._obs())
    def close(self):
        pass

def load(domain, task, task_kwargs=None):
    return Env(domain, task, (task_kwargs or {}).get("random"))
`;

function pattern(seed: number, t: number, size: number): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let c = 0; c < 3; c++) out[(y * size + x) * 3 + c] = (seed * 7 + t * 13 + y * 31 + x * 17 + c * 101) % 256;
  return out;
}

const python = findBridgePython();
if (!python) {
  console.warn('skipping the Python bridge tests: no python3 with msgpack and numpy (apt-get install python3-msgpack python3-numpy)');
}

/** Runs Python lines with the bridge imported as `bridge` (and sys); they print "ok" at the end and nothing to stderr. */
function expectBridgeScriptOk(lines: string[]): void {
  const preamble = ['import sys', `sys.path.insert(0, ${JSON.stringify(dirname(BRIDGE_PATH))})`, 'import bridge'];
  const run = spawnSync(python!, ['-c', [...preamble, ...lines].join('\n')], { encoding: 'utf8', timeout: 20_000 });
  expect(run.stderr).toBe('');
  expect(run.stdout.trim()).toBe('ok');
}

describe('the Python bridge tests in CI', () => {
  // elsewhere they skip when no such Python exists; in CI that skip is a failure
  // (.ci/run installs python3-msgpack and python3-numpy, and fails on any skip)
  it.runIf(process.env.CI === 'true')('find a python3 with msgpack and numpy', () => {
    expect(python, 'no python3 with msgpack and numpy: apt-get install python3-msgpack python3-numpy').toBeTruthy();
  });
});

describe.skipIf(!python)('RemoteEnv against the Python bridge', () => {
  let dir = '';
  const opened = closedAfterEach();
  const command = (...args: string[]): string => joinCommand([python!, BRIDGE_PATH, ...args]);
  const open = async (args: string[], timeoutMs = 20_000): Promise<RemoteEnv> => {
    const env = await createRemoteEnv({ command: command(...args), timeoutMs, env: { PYTHONPATH: dir } });
    opened.push(env);
    return env;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'curl-rl-tinyenv-'));
    writeFileSync(join(dir, 'tinyenv.py'), TINY_ENV);
    mkdirSync(join(dir, 'fakes', 'dm_control'), { recursive: true });
    writeFileSync(join(dir, 'fakes', 'gymnasium.py'), FAKE_GYMNASIUM);
    writeFileSync(join(dir, 'fakes', 'dm_control', '__init__.py'), '');
    writeFileSync(join(dir, 'fakes', 'dm_control', 'suite.py'), FAKE_DMC_SUITE);
    mkdirSync(join(dir, 'no-dmc', 'dm_control'), { recursive: true });
    writeFileSync(join(dir, 'no-dmc', 'dm_control', '__init__.py'), `raise ModuleNotFoundError("No module named 'dm_control'", name="dm_control")\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves a module:callable pixel env with bit-exact frames, seeds and info', async () => {
    const env = await open(['--env', 'tinyenv:make_pixels', '--kwargs', '{"size": 12}']);
    expect(env.id).toBe('remote:tinyenv:make_pixels');
    // Same machine: after the spec the frames cross the local transport's FIFOs.
    expect(env.localTransport).toBe(true);
    expect(env.observationSpace).toEqual({ kind: 'box', shape: [12, 12, 3], dtype: 'uint8', low: 0, high: 255 });
    expect(env.actionSpace).toEqual({ kind: 'box', shape: [2], dtype: 'float32', low: new Float64Array([-1, -2]), high: new Float64Array([1, 2]) });

    const first = await env.reset({ seed: 9 });
    expect(Array.from(first.observation)).toEqual(Array.from(pattern(9, 0, 12)));
    expect(first.info).toEqual({ seed: 9, scale: 0.5 });
    const again = await env.reset({ seed: 9 });
    expect(Array.from(again.observation)).toEqual(Array.from(first.observation));

    const truncated: boolean[] = [];
    for (let t = 1; t <= 4; t++) {
      const r = await env.step(new Float32Array([0.25, -0.5]));
      expect(Array.from(r.observation)).toEqual(Array.from(pattern(9, t, 12)));
      expect(r.reward).toBe(0.75);
      expect(r.info).toEqual({ t });
      truncated.push(r.truncated);
    }
    expect(truncated).toEqual([false, false, false, true]);
  });

  it('pixel mode observes render() frames, resized to --image-size', async () => {
    const env = await open(['--env', 'tinyenv:make_pixels', '--pixels', '--image-size', '6']);
    expect(env.observationSpace).toMatchObject({ shape: [6, 6, 3], dtype: 'uint8' });
    const { observation } = await env.reset({ seed: 2 });
    // render() flips rows; nearest-neighbour 12 -> 6 keeps even rows and columns.
    const full = pattern(2, 0, 12);
    const expected = new Uint8Array(6 * 6 * 3);
    for (let y = 0; y < 6; y++)
      for (let x = 0; x < 6; x++)
        for (let c = 0; c < 3; c++) expected[(y * 6 + x) * 3 + c] = full[((11 - 2 * y) * 12 + 2 * x) * 3 + c]!;
    expect(Array.from(observation)).toEqual(Array.from(expected));
    const frame = await env.render();
    expect(Array.from(frame!)).toEqual(Array.from(expected));
  });

  it('serves float64 state observations with a Discrete action space', async () => {
    const env = await open(['--env', 'tinyenv:make_count']);
    expect(env.observationSpace).toEqual({ kind: 'box', shape: [3], dtype: 'float64', low: -10, high: 10 });
    expect(env.actionSpace).toEqual({ kind: 'discrete', n: 3 });
    const { observation } = await env.reset({ seed: 3 });
    expect(observation).toBeInstanceOf(Float64Array);
    expect(Array.from(observation)).toEqual([0, 0.5, 0.3]);
    const r = await env.step(2);
    expect(Array.from(r.observation)).toEqual([2, 0.5, 0.3]);
    expect(r.reward).toBe(2);
    expect((await env.step(2)).terminated).toBe(true);
  });

  it('passes the env checker', async () => {
    const env = await open(['--env', 'tinyenv:make_pixels']);
    await expect(checkEnv(env, { steps: 3 })).resolves.toBeUndefined();
  });

  it('a Python exception arrives as RemoteEnvRaisedError with its traceback; stdout prints went to stderr', async () => {
    const env = await open(['--env', 'tinyenv:make_pixels']);
    await env.reset({ seed: 1 });
    await env.step(new Float32Array([0, 0]));
    const error = (await env.step(new Float32Array([0.95, 0])).catch((e: unknown) => e)) as RemoteEnvRaisedError;
    expect(error).toBeInstanceOf(RemoteEnvRaisedError);
    expect(error.remoteType).toBe('ValueError');
    expect(error.message).toContain('action 0.95 too large');
    expect(error.traceback).toMatch(/tinyenv\.py", line \d+, in step/);
    expect(error.stderrTail).toContain('stray print from step 0');
    expect((await env.step(new Float32Array([0, 0]))).info).toEqual({ t: 2 });
  });

  it('a crash is RemoteProcessExitedError with the stderr tail; restart() continues', async () => {
    const env = await open(['--env', 'tinyenv:make_pixels']);
    await env.reset({ seed: 1 });
    const pid = env.pid;
    const error = (await env.step(new Float32Array([-0.95, 0])).catch((e: unknown) => e)) as RemoteProcessExitedError;
    expect(error).toBeInstanceOf(RemoteProcessExitedError);
    expect(error.processExitCode).toBe(7);
    expect(error.stderrTail).toContain('tiny env: crashing on purpose');
    expect(pidExists(pid)).toBe(false);
    await env.restart();
    const r = await env.reset({ seed: 1 });
    expect(Array.from(r.observation)).toEqual(Array.from(pattern(1, 0, 12)));
  });

  it('a hang is RemoteTimeoutError and the process is killed', async () => {
    const env = await open(['--env', 'tinyenv:make_pixels'], 2_000);
    await env.reset({ seed: 1 });
    const pid = env.pid;
    await expect(env.step(new Float32Array([0, 1.95]))).rejects.toThrow(RemoteTimeoutError);
    expect(pidExists(pid)).toBe(false);
  });

  it('a failing factory is reported at start with the Python traceback, and no process stays', async () => {
    // a unique argument on the bridge's command line, for the /proc scan
    const tag = JSON.stringify({ tag: `broken-factory-${process.pid}-${Date.now()}` });
    const starting = createRemoteEnv({ command: command('--env', 'tinyenv:make_broken', '--kwargs', tag), env: { PYTHONPATH: dir } });
    const { seen } = await watchArg(tag, starting);
    const error = (await starting.catch((e: unknown) => e)) as RemoteEnvRaisedError;
    expect(error).toBeInstanceOf(RemoteEnvRaisedError);
    expect(error.message).toContain('factory failed on purpose');
    expect(error.traceback).toContain('make_broken');
    expect(seen).toBe(true);
    expect(pidsWithArg(tag)).toEqual([]);
  });

  it('gymnasium:make gets the --env-id and render_mode=rgb_array in --pixels mode (gymnasium imported only then)', async () => {
    const env = await createRemoteEnv({
      command: command('--env', 'gymnasium:make', '--env-id', 'Tiny-v0', '--pixels'),
      env: { PYTHONPATH: `${join(dir, 'fakes')}:${dir}` },
    });
    opened.push(env);
    expect(env.id).toBe('remote:Tiny-v0');
    expect(env.observationSpace).toMatchObject({ shape: [8, 8, 3], dtype: 'uint8' });
    const { observation } = await env.reset({ seed: 4 });
    expect(observation[0]).toBe(pattern(4, 0, 8)[7 * 8 * 3]);
  });

  it('the dm_control adapter: pixels from the camera, seeded reload, discount-based truncation, --state', async () => {
    const fakes = { PYTHONPATH: join(dir, 'fakes') };
    const env = await createRemoteEnv({ command: command('--dmc', 'cartpole:swingup', '--image-size', '5', '--camera', '2'), env: fakes });
    opened.push(env);
    expect(env.id).toBe('remote:dmc:cartpole-swingup');
    expect(env.observationSpace).toEqual({ kind: 'box', shape: [5, 5, 3], dtype: 'uint8', low: 0, high: 255 });
    expect(env.actionSpace).toEqual({ kind: 'box', shape: [1], dtype: 'float32', low: -1, high: 1 });
    const first = await env.reset({ seed: 3 });
    expect(new Set(first.observation)).toEqual(new Set([32]));
    const steps = [];
    for (let i = 0; i < 3; i++) steps.push(await env.step(new Float32Array([0.5])));
    expect(steps.map((s) => [s.observation[0], s.reward, s.terminated, s.truncated])).toEqual([
      [33, 0.25, false, false],
      [34, 0.25, false, false],
      [35, 0.25, false, true],
    ]);

    const state = await createRemoteEnv({ command: command('--dmc', 'cartpole:swingup', '--state'), env: fakes });
    opened.push(state);
    expect(state.observationSpace).toEqual({ kind: 'box', shape: [5], dtype: 'float32', low: -Infinity, high: Infinity });
    expect(Array.from((await state.reset({ seed: 6 })).observation)).toEqual([0, 1, 2, 6, -1]);
  });

  it('--dmc without dm_control installed says how to install it', async () => {
    // "not installed" made explicit, whatever this machine has: a dm_control first on the path that cannot be imported
    const error = (await createRemoteEnv({ command: command('--dmc', 'cartpole:swingup'), env: { PYTHONPATH: join(dir, 'no-dmc') } }).catch((e: unknown) => e)) as RemoteEnvRaisedError;
    expect(error).toBeInstanceOf(RemoteEnvRaisedError);
    expect(error.message).toMatch(/--dmc needs dm_control.*pip install dm_control.*No module named 'dm_control'/);
  });

  it('keeps to the pty when the client declines the local transport; frames bit-exact, errors and crashes typed', async () => {
    const env = await createRemoteEnv({ command: command('--env', 'tinyenv:make_pixels', '--kwargs', '{"size": 40}'), env: { PYTHONPATH: dir }, localTransport: false });
    opened.push(env);
    expect(env.localTransport).toBe(false);
    const first = await env.reset({ seed: 5 });
    expect(Buffer.compare(first.observation as Uint8Array, pattern(5, 0, 40))).toBe(0);
    const r = await env.step(new Float32Array([0.25, -0.5]));
    expect(Buffer.compare(r.observation as Uint8Array, pattern(5, 1, 40))).toBe(0);
    await expect(env.step(new Float32Array([0.95, 0]))).rejects.toThrow(RemoteEnvRaisedError);
    const crash = (await env.step(new Float32Array([-0.95, 0])).catch((e: unknown) => e)) as RemoteProcessExitedError;
    expect(crash).toBeInstanceOf(RemoteProcessExitedError);
    expect(crash.processExitCode).toBe(7);
  });

  it("the bridge's open_local takes only the client's FIFOs, without blocking on anything else", async () => {
    const script = [
      'import os, tempfile',
      'd = tempfile.mkdtemp()',
      'req, rep = os.path.join(d, "request"), os.path.join(d, "reply")',
      'os.mkfifo(req); os.mkfifo(rep)',
      '# the client holds both ends open for reading and writing, with the token waiting',
      'creq = os.open(req, os.O_RDWR | os.O_NONBLOCK); crep = os.open(rep, os.O_RDWR | os.O_NONBLOCK)',
      'for bad in (None, "x", {}, {"token": "", "request": req, "reply": rep}, {"token": "ab", "request": req + "-missing", "reply": rep}):',
      '    assert bridge.open_local(bad) is None, bad',
      'os.write(creq, b"wrong-token-0123")',
      'assert bridge.open_local({"token": "0123456789abcdef", "request": req, "reply": rep}) is None',
      'os.write(creq, b"0123456789abcdef")',
      'fd_in, fd_out = bridge.open_local({"token": "0123456789abcdef", "request": req, "reply": rep})',
      'os.write(creq, b"ping"); assert os.read(fd_in, 4) == b"ping"',
      'os.write(fd_out, b"pong"); assert os.read(crep, 4) == b"pong"',
      'print("ok")',
    ];
    expectBridgeScriptOk(script);
  });

  it('compresses frames that pay for it when the client accepts zlib; they arrive bit-exact either way', async () => {
    for (const compress of [true, false]) {
      // Over the pty: on the local transport the bridge does not compress (a pipe takes the frame in one write).
      const env = await createRemoteEnv({
        command: command('--env', 'tinyenv:make_pixels', '--kwargs', '{"size": 64}'),
        env: { PYTHONPATH: dir },
        compress,
        localTransport: false,
      });
      opened.push(env);
      const first = await env.reset({ seed: 3 });
      expect(Buffer.compare(first.observation as Uint8Array, pattern(3, 0, 64))).toBe(0);
      const r = await env.step(new Float32Array([0.25, -0.5]));
      expect(Buffer.compare(r.observation as Uint8Array, pattern(3, 1, 64))).toBe(0);
    }
    // The bridge's Compressor itself: zlib for a compressible frame, raw (and a back-off) for noise.
    const script = [
      'import zlib, numpy as np',
      'c = bridge.Compressor()',
      'flat = bridge.encode_array(np.zeros((64, 64, 3), np.uint8))',
      'noise = bridge.encode_array(np.random.default_rng(0).integers(0, 256, (64, 64, 3)).astype(np.uint8))',
      'a = c.encode(flat); assert a["encoding"] == "zlib" and zlib.decompress(a["data"]) == flat["data"], a.keys()',
      'assert c.encode(noise) is noise and c.encode(flat) is flat and c.encode(flat)["encoding"] == "zlib"',
      'print("ok")',
    ];
    expectBridgeScriptOk(script);
  });

  it('fetchRemoteSpec names the bridge and the spaces', async () => {
    const spec = await fetchRemoteSpec({ command: command('--env', 'tinyenv:make_count'), env: { PYTHONPATH: dir } });
    expect(spec.server).toMatch(/curl-rl python bridge/);
    expect(spec.actionSpace).toEqual({ kind: 'discrete', n: 3 });
  });
});

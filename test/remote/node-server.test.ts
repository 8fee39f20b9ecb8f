import { afterEach, describe, expect, it } from 'vitest';
import { checkEnv } from '../../envs/checker.js';
import {
  createRemoteEnv,
  fetchRemoteSpec,
  RemoteEnv,
  RemoteEnvError,
  RemoteEnvRaisedError,
  RemoteProcessExitedError,
  RemoteProtocolError,
  RemoteTimeoutError,
  testServerCommand,
} from '../../envs/remote/index.js';
import { EnvError, InvalidActionError } from '../../envs/errors.js';
import { closedAfterEach, expectedFrame, pidExists, pidsWithArg, watchArg } from './helpers.js';

const opened = closedAfterEach();
/** localTransport: the default (frames over the FIFOs after the spec) or false (the pty throughout). */
async function openAt(flags: string[] = [], timeoutMs = 20_000, localTransport = true): Promise<RemoteEnv> {
  const env = await createRemoteEnv({ command: testServerCommand(flags), timeoutMs, localTransport });
  opened.push(env);
  expect(env.localTransport).toBe(localTransport);
  return env;
}
const open = openAt;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

describe('RemoteEnv against the Node test server', () => {
  it.each([
    ['the local transport', true],
    ['the pty', false],
  ])('reads the spec and round-trips 100x100x3 uint8 frames bit-exactly over %s', async (_, local) => {
    const env = await open([], 20_000, local);
    expect(env.id).toBe('remote:node-test-pattern');
    expect(env.observationSpace).toEqual({ kind: 'box', shape: [100, 100, 3], dtype: 'uint8', low: 0, high: 255 });
    expect(env.actionSpace).toEqual({ kind: 'box', shape: [2], dtype: 'float32', low: -1, high: 1 });
    expect(pidExists(env.pid)).toBe(true);

    const first = await env.reset({ seed: 42 });
    expect(first.observation).toBeInstanceOf(Uint8Array);
    expect(sameBytes(first.observation as Uint8Array, expectedFrame(42, 0, 100))).toBe(true);
    expect(first.info).toEqual({ episode_seed: 42 });
    // All 256 byte values cross (CR, LF, ^C, XON/XOFF would not through a cooked tty).
    expect(new Set(first.observation).size).toBe(256);

    for (let t = 1; t <= 5; t++) {
      const action = new Float32Array([0.125 * t, -0.3]);
      const r = await env.step(action);
      expect(sameBytes(r.observation as Uint8Array, expectedFrame(42, t, 100))).toBe(true);
      expect(r.reward).toBeCloseTo(action[0]! + 2 * action[1]! + t / 1000, 12);
      expect(r.info).toEqual({ step: t, action: Array.from(action) });
      expect(r.terminated).toBe(false);
      expect(r.truncated).toBe(false);
    }
    const frame = await env.render();
    expect(sameBytes(frame!, expectedFrame(42, 5, 100))).toBe(true);
  });

  it('reproduces a seeded reset, and an unseeded one draws a fresh seed', async () => {
    const env = await open(['--size', '8']);
    const a = await env.reset({ seed: 7 });
    await env.step(new Float32Array([0, 0]));
    const b = await env.reset({ seed: 7 });
    expect(Array.from(b.observation)).toEqual(Array.from(a.observation));
    const c = await env.reset();
    expect(c.info.episode_seed).not.toBe(7);
    expect(sameBytes(c.observation as Uint8Array, expectedFrame(c.info.episode_seed as number, 0, 8))).toBe(true);
  });

  it('reports truncation at the episode length', async () => {
    const env = await open(['--size', '4', '--episode-length', '3']);
    await env.reset({ seed: 1 });
    const flags = [];
    for (let i = 0; i < 3; i++) flags.push((await env.step(new Float32Array([0, 0]))).truncated);
    expect(flags).toEqual([false, false, true]);
  });

  it('validates actions locally and requires a reset first', async () => {
    const env = await open(['--size', '4']);
    await expect(env.step(new Float32Array([0, 0]))).rejects.toThrow(/call reset\(\) before step\(\)/);
    await env.reset({ seed: 1 });
    await expect(env.step(new Float32Array([0, 0, 0]))).rejects.toThrow(InvalidActionError);
    await expect(env.step(new Float32Array([NaN, 0]))).rejects.toThrow(/action\[0\] is NaN/);
    await expect(env.step(3)).rejects.toThrow(/Float32Array of length 2/);
    // Still in step with the server afterwards.
    expect((await env.step(new Float32Array([0.5, 0]))).info.step).toBe(1);
  });

  it('passes the env checker', async () => {
    const env = await open(['--size', '16']);
    await expect(checkEnv(env, { steps: 10 })).resolves.toBeUndefined();
  });

  it('fetchRemoteSpec returns JSON-ready spaces and leaves no process', async () => {
    const tag = `spec-test-${process.pid}-${Date.now()}`;
    const fetching = fetchRemoteSpec({ command: testServerCommand(['--size', '10', '--tag', tag]) });
    // the scan finds the server while it runs, so its finding nothing afterwards means something
    const { seen } = await watchArg(tag, fetching);
    const spec = await fetching;
    expect(seen).toBe(true);
    expect(pidsWithArg(tag)).toEqual([]);
    expect(spec).toMatchObject({
      protocol: 1,
      id: 'node-test-pattern',
      observationSpace: { kind: 'box', shape: [10, 10, 3], dtype: 'uint8', low: 0, high: 255 },
      actionSpace: { kind: 'box', shape: [2], dtype: 'float32', low: -1, high: 1 },
      metadata: { episode_length: 1000 },
    });
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });
});

// Every fault over both transports: the FIFOs carry the frames by default, the pty when either side declines.
describe.each([
  ['the local transport', true],
  ['the pty', false],
])('RemoteEnv faults over %s', (_, local) => {
  const open = (flags: string[] = [], timeoutMs = 20_000): Promise<RemoteEnv> => openAt(flags, timeoutMs, local);

  it('garbage on the channel is a protocol error with the stderr tail, and kills the process', async () => {
    const env = await open(['--size', '4', '--garbage-after', '2']);
    await env.reset({ seed: 1 });
    await env.step(new Float32Array([0, 0]));
    await env.step(new Float32Array([0, 0]));
    const error = await env.step(new Float32Array([0, 0])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteProtocolError);
    expect((error as RemoteProtocolError).message).toMatch(/expected magic "CRLP", got "Traceback\? no/);
    expect((error as RemoteProtocolError).stderrTail).toContain('writing garbage at step 2');
    expect(pidExists(env.pid)).toBe(false);
    // The same failure again, never a made-up transition.
    await expect(env.step(new Float32Array([0, 0]))).rejects.toBe(error);
  });

  it('a crashed process is RemoteProcessExitedError with exit code and stderr tail', async () => {
    const env = await open(['--size', '4', '--crash-after', '1']);
    await env.reset({ seed: 1 });
    await env.step(new Float32Array([0, 0]));
    const error = (await env.step(new Float32Array([0, 0])).catch((e: unknown) => e)) as RemoteProcessExitedError;
    expect(error).toBeInstanceOf(RemoteProcessExitedError);
    expect(error.processExitCode).toBe(3);
    expect(error.message).toMatch(/exited with code 3 while 'step' was waiting/);
    expect(error.stderrTail).toContain('simulated crash at step 1');
    expect(pidExists(env.pid)).toBe(false);
  });

  it('a process killed from outside is RemoteProcessExitedError', async () => {
    const env = await open(['--size', '4']);
    await env.reset({ seed: 1 });
    process.kill(env.pid!, 'SIGKILL');
    const error = (await env.step(new Float32Array([0, 0])).catch((e: unknown) => e)) as RemoteProcessExitedError;
    expect(error).toBeInstanceOf(RemoteProcessExitedError);
    expect(error.message).toMatch(/killed by signal 9|exited/);
    expect(pidExists(env.pid)).toBe(false);
  });

  it('a hang past the timeout is RemoteTimeoutError and the process is killed', async () => {
    const env = await open(['--size', '4', '--hang-after', '0'], 2_000);
    await env.reset({ seed: 1 });
    const pid = env.pid;
    const error = (await env.step(new Float32Array([0, 0])).catch((e: unknown) => e)) as RemoteTimeoutError;
    expect(error).toBeInstanceOf(RemoteTimeoutError);
    expect(error.timeoutMs).toBe(2_000);
    expect(error.message).toMatch(/sent no reply to 'step' within 2000 ms; it has been killed/);
    expect(error.stderrTail).toContain('simulated hang at step 0');
    expect(pidExists(pid)).toBe(false);
  });

  it('an error raised on the far side is RemoteEnvRaisedError and the env stays usable', async () => {
    const env = await open(['--size', '4', '--raise-after', '1']);
    await env.reset({ seed: 1 });
    await env.step(new Float32Array([0, 0]));
    const error = (await env.step(new Float32Array([0, 0])).catch((e: unknown) => e)) as RemoteEnvRaisedError;
    expect(error).toBeInstanceOf(RemoteEnvRaisedError);
    expect(error.remoteType).toBe('RangeError');
    expect(error.request).toBe('step');
    expect(error.traceback).toContain('simulated failure in step 1');
    expect(pidExists(env.pid)).toBe(true);
    expect((await env.step(new Float32Array([0, 0]))).info.step).toBe(2);
  });

  it('restart() replaces a dead process and the env continues after a reset', async () => {
    const env = await open(['--size', '4', '--crash-after', '1']);
    await env.reset({ seed: 5 });
    await env.step(new Float32Array([0, 0]));
    const oldPid = env.pid;
    await expect(env.step(new Float32Array([0, 0]))).rejects.toThrow(RemoteProcessExitedError);
    await env.restart();
    expect(env.restarts).toBe(1);
    expect(env.localTransport).toBe(local);
    expect(env.pid).not.toBe(oldPid);
    expect(pidExists(oldPid)).toBe(false);
    expect(pidExists(env.pid)).toBe(true);
    await expect(env.step(new Float32Array([0, 0]))).rejects.toThrow(EnvError);
    const r = await env.reset({ seed: 5 });
    expect(sameBytes(r.observation as Uint8Array, expectedFrame(5, 0, 4))).toBe(true);
    expect((await env.step(new Float32Array([0, 0]))).info.step).toBe(1);
  });

  it('close() is idempotent and leaves no process', async () => {
    const env = await open(['--size', '4']);
    opened.splice(opened.indexOf(env), 1);
    const pid = env.pid;
    await env.reset();
    await env.close();
    await env.close();
    expect(pidExists(pid)).toBe(false);
    await expect(env.step(new Float32Array([0, 0]))).rejects.toThrow(/is closed; call restart\(\)/);
  });
});

describe('RemoteEnv start-up and process-group faults', () => {
  // These start `sleep` for over half an hour: whatever a failed assertion left behind is killed here, not by the timer.
  const markers: string[] = [];
  afterEach(() => {
    for (const marker of markers.splice(0)) {
      for (const pid of pidsWithArg(marker)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
  });

  it('a protocol version mismatch fails at start, naming both versions, with no process left', async () => {
    const tag = `version-test-${process.pid}-${Date.now()}`;
    const error = (await createRemoteEnv({ command: testServerCommand(['--version', '99', '--tag', tag]), timeoutMs: 20_000 }).catch((e: unknown) => e)) as RemoteProtocolError;
    expect(error).toBeInstanceOf(RemoteProtocolError);
    expect(error.message).toMatch(/speaks version 99, this curl-rl speaks version 1/);
    expect(pidsWithArg(tag)).toEqual([]);
  });

  it('a process that never says hello times out at start-up and is killed', async () => {
    const marker = `${1000 + (process.pid % 1000)}.25`;
    markers.push(marker);
    const error = (await createRemoteEnv({ command: `sleep ${marker}`, startupTimeoutMs: 1_000 }).catch((e: unknown) => e)) as RemoteTimeoutError;
    expect(error).toBeInstanceOf(RemoteTimeoutError);
    expect(error.message).toMatch(/sent no hello at start-up within 1000 ms/);
    expect(pidsWithArg(marker)).toEqual([]);
  });

  it('a command that does not exist is RemoteProcessExitedError with the shell message', async () => {
    const error = (await createRemoteEnv({ command: 'definitely-not-a-command-xyz --flag' }).catch((e: unknown) => e)) as RemoteEnvError;
    expect(error).toBeInstanceOf(RemoteProcessExitedError);
    expect(error.stderrTail).toMatch(/definitely-not-a-command-xyz.*not found/);
  });

  it('close() also ends children the server started (its process group)', async () => {
    const marker = `${2000 + (process.pid % 1000)}.5`;
    markers.push(marker);
    const env = await createRemoteEnv({ command: `/bin/sh -c ${JSON.stringify(`sleep ${marker} & exec ${testServerCommand(['--size', '4'])}`)}` });
    opened.push(env);
    await env.reset();
    expect(pidsWithArg(marker)).toHaveLength(1);
    await env.close();
    expect(pidExists(env.pid)).toBe(false);
    expect(pidsWithArg(marker)).toEqual([]);
  });

});

describe('createRemoteEnv input checks', () => {
  it('rejects bad options before spawning anything', async () => {
    await expect(createRemoteEnv({ command: '  ' })).rejects.toThrow(/a command is required/);
    await expect(createRemoteEnv({ command: 'x', timeoutMs: 0 })).rejects.toThrow(/timeoutMs must be a positive number/);
    await expect(createRemoteEnv({ command: 'x', cwd: '/definitely/not/here' })).rejects.toThrow(/is not a directory/);
    await expect(createRemoteEnv({ command: `x 'unclosed` })).rejects.toThrow(/unterminated single quote/);
  });

  it('a program that prints text instead of the protocol is a protocol error showing what it printed', async () => {
    const error = (await createRemoteEnv({ command: 'echo hello from the wrong program' }).catch((e: unknown) => e)) as RemoteProtocolError;
    expect(error).toBeInstanceOf(RemoteProtocolError);
    expect(error.message).toContain('got "hello from the wrong program');
  });
});

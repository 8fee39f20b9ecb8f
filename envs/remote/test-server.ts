/*
 * A Node process that serves the remote env protocol (PROTOCOL.md) with a
 * deterministic pixel env, for tests and benchmarks that need no Python.
 *
 *   node --import tsx envs/remote/test-server.ts [--size 100] [--episode-length 1000] [--seed 0]
 *     [--frames noise|rendered] [--no-compress] [--no-local]
 *     [--garbage-after N] [--crash-after N] [--hang-after N] [--raise-after N] [--stray-after N] [--nan-reward-after N]
 *     [--version X] [--tag T] [--action-bounds=LOW,HIGH]
 *
 * --frames: `noise` (default) frames are hashes, incompressible and covering
 * every byte value; `rendered` ones look like a camera image (flat colour).
 * Observations are zlib-compressed when the client's spec request accepts it
 * and it pays; --no-compress ignores accept_encoding, like a server that
 * predates it. When the client offers the local transport and this process can
 * open its pipes (it runs on the same machine), frames move there after the
 * spec reply, uncompressed (a pipe takes 30 KB in one write); --no-local
 * ignores the offer, like a server on another host. --action-bounds sets the
 * Box bounds of its 2-d action (default -1,1; `-Infinity,Infinity` for an
 * unbounded one; with `=`, as a value may start with a dash); every step's info echoes the action it received.
 *
 * The fault flags act on step N+1 (after N good steps, counted over the
 * process's life): write garbage, exit(3), stop answering, or answer with an
 * `error` message; on whichever transport is in use. --stray-after N writes
 * its step N+1 reply to the terminal although the frames moved to the local
 * transport; --nan-reward-after N answers step N+1 with a reward of NaN, as a
 * simulation that blew up would. Each writes a line to stderr first, as a real env would.
 */
import { spawnSync } from 'node:child_process';
import { readSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { parseArgs } from 'node:util';
import { encodeFrame, FrameDecoder, type Message } from './framing.js';
import { openLocalServer } from './local-transport.js';
import { ArrayCompressor, PROTOCOL_VERSION, type WireArray } from './protocol.js';
import { patternFrame, patternReward, renderedFrame } from './test-pattern.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '100' },
    'episode-length': { type: 'string', default: '1000' },
    seed: { type: 'string', default: '0' },
    'garbage-after': { type: 'string' },
    'crash-after': { type: 'string' },
    'hang-after': { type: 'string' },
    'raise-after': { type: 'string' },
    'stray-after': { type: 'string' },
    'nan-reward-after': { type: 'string' },
    version: { type: 'string' },
    'action-bounds': { type: 'string', default: '-1,1' },
    frames: { type: 'string', default: 'noise' },
    'no-compress': { type: 'boolean', default: false },
    'no-local': { type: 'boolean', default: false },
    // Ignored: lets a test find this process by its command line.
    tag: { type: 'string' },
  },
});
const int = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number.parseInt(v, 10));
const size = int(values.size)!;
const episodeLength = int(values['episode-length'])!;
const faults = {
  garbage: int(values['garbage-after']),
  crash: int(values['crash-after']),
  hang: int(values['hang-after']),
  raise: int(values['raise-after']),
  stray: int(values['stray-after']),
  nanReward: int(values['nan-reward-after']),
};
const actionBounds = values['action-bounds']!.split(',').map(Number);
if (actionBounds.length !== 2 || !actionBounds.every((b) => !Number.isNaN(b))) {
  process.stderr.write(`test-server: --action-bounds must be LOW,HIGH, got ${values['action-bounds']}\n`);
  process.exit(2);
}
const version = values.version === undefined ? PROTOCOL_VERSION : Number(values.version);
if (values.frames !== 'noise' && values.frames !== 'rendered') {
  process.stderr.write(`test-server: --frames must be noise or rendered, got ${values.frames}\n`);
  process.exit(2);
}
const makeFrame = values.frames === 'rendered' ? renderedFrame : patternFrame;
/** Set by the spec request when the client accepts zlib. */
let compressor: ArrayCompressor | undefined;
/** Where requests come from and replies go: the pty (fds 0/1) until the spec moves them to the local transport's pipes. */
let inFd = 0;
let outFd = 1;

// The protocol needs an 8-bit clean terminal. The spawning wrapper already ran
// `stty raw -echo`; run it again for a server started some other way. It is
// not done with process.stdin.setRawMode because touching process.stdin makes
// fd 0 (and fd 1, the same pty) non-blocking, and this server does blocking
// I/O: one blocking write per frame instead of an event-loop turn per 4 KB
// that the pty accepts, which more than doubled the time per step.
if (isatty(0)) spawnSync('stty', ['raw', '-echo'], { stdio: ['inherit', 'ignore', 'ignore'] });

let seedCounter = int(values.seed)!;
let episodeSeed = -1;
let t = 0;
let totalSteps = 0;
const frame = new Uint8Array(size * size * 3);

function writeAll(bytes: Buffer, fd = outFd): void {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      pause(1);
    }
  }
}

/** One frame, written out whole before the next. */
function send(message: Message, fd = outFd): void {
  writeAll(encodeFrame(message), fd);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function pause(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function obs(): WireArray {
  makeFrame(episodeSeed, t, size, frame);
  const wire: WireArray = { dtype: 'uint8', shape: [size, size, 3], data: Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength) };
  return compressor ? compressor.encode(wire) : wire;
}

function handle(msg: Message): void {
  const seq = msg.seq;
  switch (msg.type) {
    case 'spec': {
      const local = values['no-local'] ? undefined : openLocalServer(msg.local);
      // Compression saves pty wake-ups; a pipe takes the whole frame in one write, so there it would only cost time.
      if (!local && !values['no-compress'] && Array.isArray(msg.accept_encoding) && msg.accept_encoding.includes('zlib')) compressor = new ArrayCompressor();
      send({
        type: 'spec',
        seq,
        id: 'node-test-pattern',
        observation_space: { kind: 'box', shape: [size, size, 3], dtype: 'uint8', low: 0, high: 255 },
        action_space: { kind: 'box', shape: [2], dtype: 'float32', low: actionBounds[0], high: actionBounds[1] },
        metadata: { episode_length: episodeLength },
        ...(local ? { local: true } : {}),
      });
      if (local) {
        inFd = local.input;
        outFd = local.output;
      }
      return;
    }
    case 'reset': {
      // An unseeded reset draws the next seed from the server's own sequence.
      episodeSeed = typeof msg.seed === 'number' ? msg.seed : (seedCounter = (seedCounter * 1103515245 + 12345) % 2147483648);
      t = 0;
      send({ type: 'reset', seq, observation: obs(), info: { episode_seed: episodeSeed } });
      return;
    }
    case 'step': {
      if (episodeSeed < 0) throw new Error('step before reset');
      if (totalSteps === faults.crash) {
        process.stderr.write(`test-server: simulated crash at step ${totalSteps}\n`);
        process.exit(3);
      }
      if (totalSteps === faults.hang) {
        process.stderr.write(`test-server: simulated hang at step ${totalSteps}\n`);
        for (;;) pause(60_000);
      }
      if (totalSteps === faults.garbage) {
        process.stderr.write(`test-server: writing garbage at step ${totalSteps}\n`);
        writeAll(Buffer.from('Traceback? no: this is not a frame\r\n'));
        return;
      }
      if (totalSteps === faults.raise) {
        totalSteps++;
        throw new RangeError(`simulated failure in step ${totalSteps - 1}`);
      }
      const a = msg.action as { dtype: string; shape: number[]; data: Buffer };
      const action = new Float32Array(new Uint8Array(a.data).buffer);
      const stray = totalSteps === faults.stray;
      if (stray) process.stderr.write(`test-server: replying on the terminal at step ${totalSteps}\n`);
      const nanReward = totalSteps === faults.nanReward;
      if (nanReward) process.stderr.write(`test-server: reward NaN at step ${totalSteps}\n`);
      totalSteps++;
      t++;
      send({
        type: 'step',
        seq,
        observation: obs(),
        reward: nanReward ? Number.NaN : patternReward(action, t),
        terminated: false,
        truncated: t >= episodeLength,
        info: { step: t, action: Array.from(action) },
      }, stray ? 1 : outFd);
      return;
    }
    case 'render':
      send({ type: 'render', seq, frame: episodeSeed < 0 ? null : obs() });
      return;
    case 'close':
      send({ type: 'close', seq });
      process.exit(0);
      break;
    default:
      throw new Error(`unknown request type ${JSON.stringify(msg.type)}`);
  }
}

send({ type: 'hello', protocol: version, server: 'curl-rl node test server' });

// A blocking read loop: requests are strictly one at a time, so nothing is lost by not using events.
const decoder = new FrameDecoder();
const input = Buffer.allocUnsafe(1 << 16);
for (;;) {
  let n: number;
  try {
    n = readSync(inFd, input, 0, input.length, null);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN') {
      pause(1);
      continue;
    }
    if (code === 'EIO' || code === 'EOF') process.exit(0);
    throw error;
  }
  if (n === 0) process.exit(0);
  // decoder.push may keep a view of an incomplete frame, so it gets its own copy of the bytes.
  for (const msg of decoder.push(Buffer.from(input.subarray(0, n)))) {
    try {
      handle(msg);
    } catch (error) {
      const e = error as Error;
      send({ type: 'error', seq: msg.seq, error_type: e.name, message: e.message, traceback: e.stack ?? '' });
    }
  }
}

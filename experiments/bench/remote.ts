/*
 * Remote env throughput: steps/s of the Node test server's pixel task through
 * RemoteEnv (pty + msgpack frames), next to the same task stepped in-process;
 * the difference per step is what the channel costs. One JSON line per kind
 * of frame and transport: `noise` (incompressible) and `rendered` (flat
 * colour, as a camera gives), each over the local transport (named pipes after
 * the spec: the default on one machine) and over the pty alone (as a server on
 * another host does: noise crosses raw, rendered frames zlib-compressed).
 * Flags: --size 100 (frame side)  --steps 3000  --warmup 200  --frames noise|rendered|both
 *        --local-transport true|false|both (default both)
 *        --compress false (refuse compression, as a client that does not know the option)
 *        --python /usr/bin/python3 (optional: also time the bridge with a trivial numpy pixel env).
 */
import { rmSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { BRIDGE_PATH, createRemoteEnv, joinCommand, testServerCommand, type RemoteEnvOptions } from '../../envs/remote/index.js';
import { LocalEndpoint } from '../../envs/remote/local-transport.js';
import { patternFrame, patternReward, renderedFrame } from '../../envs/remote/test-pattern.js';
import { ConfigError } from '../../src/core/errors.js';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string', default: '100' },
      steps: { type: 'string', default: '3000' },
      warmup: { type: 'string', default: '200' },
      python: { type: 'string' },
      frames: { type: 'string', default: 'both' },
      compress: { type: 'string', default: 'true' },
      'local-transport': { type: 'string', default: 'both' },
    },
  });
  const all = ['noise', 'rendered'] as const;
  const kinds = values.frames === 'both' ? all : all.filter((k) => k === values.frames);
  if (kinds.length === 0) throw new ConfigError(`bench remote: --frames must be noise, rendered or both, got ${values.frames}`);
  const local = values['local-transport'];
  const transports = local === 'both' ? [true, false] : local === 'true' ? [true] : local === 'false' ? [false] : [];
  if (transports.length === 0) throw new ConfigError(`bench remote: --local-transport must be true, false or both, got ${local}`);
  for (const frames of kinds) for (const localTransport of transports) await measure(frames, values.compress !== 'false', localTransport, values);
}

async function measure(
  frames: 'noise' | 'rendered',
  compress: boolean,
  localTransport: boolean,
  values: { size: string; steps: string; warmup: string; python?: string },
): Promise<void> {
  const size = Number(values.size);
  const steps = Number(values.steps);
  const warmup = Number(values.warmup);
  if (!(size >= 1 && steps >= 1 && warmup >= 0)) throw new ConfigError('bench remote: --size and --steps must be >= 1, --warmup >= 0');

  const action = new Float32Array([0.5, -0.25]);
  const makeFrame = frames === 'rendered' ? renderedFrame : patternFrame;
  // In-process: the same frame generation and reward, with a fresh frame per step as an env returns.
  let sink = 0;
  const inProcess = (n: number): number => {
    const t0 = performance.now();
    for (let t = 0; t < n; t++) {
      const frame = makeFrame(1, t, size);
      sink += frame[t % frame.length]! + patternReward(action, t);
    }
    return performance.now() - t0;
  };
  inProcess(warmup);
  const localMs = inProcess(steps);

  const remote = await timeRemote(
    { command: testServerCommand(['--size', String(size), '--frames', frames, '--episode-length', String(steps + warmup + 1)]), compress, localTransport },
    steps,
    warmup,
    action,
  );
  const remoteMs = remote.ms;
  const floorMs = await ptyFloor(size * size * 3, steps, warmup);
  const smallFloorMs = await ptyFloor(1024, steps, warmup);
  const pipeFloorMs = remote.localTransport ? await pipeFloor(size * size * 3, steps, warmup) : undefined;
  const result: Record<string, unknown> = {
    bench: 'remote',
    frame: [size, size, 3],
    frames,
    compress,
    // Whether the frames crossed the local transport's pipes (offered when true above; the server may decline).
    localTransport: remote.localTransport,
    steps,
    inProcessStepsPerSec: Math.round((steps / localMs) * 1000),
    remoteStepsPerSec: Math.round((steps / remoteMs) * 1000),
    inProcessMsPerStep: round(localMs / steps),
    remoteMsPerStep: round(remoteMs / steps),
    channelOverheadMsPerStep: round((remoteMs - localMs) / steps),
    targetOverheadMs: 0.2,
    // The same bytes through a bare pty (1 byte out, a frame's worth back), no protocol: what the pty itself costs.
    ptyFloorMsPerStep: round(floorMs / steps),
    // A 1 KB round trip (one wake-up each way): the least any step can cost, e.g. a compressed frame.
    ptySmallFloorMsPerStep: round(smallFloorMs / steps),
    // What framing, msgpack, (de)compression and validation add on top of the bare pty round trip of the raw frame
    // (negative when compression saves more round trips than it costs).
    protocolMsPerStep: round((remoteMs - localMs - floorMs) / steps),
    // Over the local transport: the same bytes through its bare FIFO pair (1 byte out, a frame back), no protocol.
    ...(pipeFloorMs === undefined ? {} : { pipeFloorMsPerStep: round(pipeFloorMs / steps) }),
  };
  if (values.python) {
    const pyEnv = await pythonEnv(values.python, size, frames);
    const python = await timeRemote({ ...pyEnv, compress, localTransport }, steps, warmup, action).finally(() => rmSync(pyEnv.env.PYTHONPATH, { recursive: true, force: true }));
    result.pythonBridgeMsPerStep = round(python.ms / steps);
    result.pythonLocalTransport = python.localTransport;
  }
  result.loadavg1 = Number((os.loadavg()[0] ?? 0).toFixed(2));
  result.cpus = os.cpus().length;
  if (sink === Infinity) console.error('unreachable');
  console.log(JSON.stringify(result));
}

async function timeRemote(options: RemoteEnvOptions, steps: number, warmup: number, action: Float32Array): Promise<{ ms: number; localTransport: boolean }> {
  const env = await createRemoteEnv({ timeoutMs: 30_000, ...options });
  try {
    await env.reset({ seed: 1 });
    for (let t = 0; t < warmup; t++) await env.step(action);
    const t0 = performance.now();
    for (let t = 0; t < steps; t++) await env.step(action);
    return { ms: performance.now() - t0, localTransport: env.localTransport };
  } finally {
    await env.close();
  }
}

/** Round trips of `bytes` through a raw pty to a minimal Node child, without framing or msgpack. */
async function ptyFloor(bytes: number, steps: number, warmup: number): Promise<number> {
  const { spawn } = await import('node-pty');
  const child = `process.stdin.setRawMode(true); const b = Buffer.alloc(${bytes}, 7); process.stdin.on('data', (d) => { for (let i = 0; i < d.length; i++) process.stdout.write(b); });`;
  const pty = spawn('/bin/sh', ['-c', 'stty raw -echo; exec "$@"', 'sh', process.execPath, '-e', child], { encoding: null, cols: 80, rows: 24 });
  try {
    // The child sets raw mode itself; give it a moment before the first byte.
    return await timeRoundTrips('pty', (listener) => pty.onData((d) => listener((d as unknown as Buffer).length)), (b) => pty.write(b), bytes, steps, warmup, 300);
  } finally {
    pty.kill('SIGKILL');
  }
}

/**
 * ms for `steps` round trips (after `warmup`): one byte out, `bytes` back,
 * over whichever channel `onChunk`/`write` drive.
 */
function timeRoundTrips(
  what: string,
  onChunk: (listener: (length: number) => void) => void,
  write: (b: Buffer) => void,
  bytes: number,
  steps: number,
  warmup: number,
  firstDelayMs: number,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let got = 0;
    let rounds = 0;
    let t0 = 0;
    const timer = setTimeout(() => reject(new Error(`bench remote: ${what} floor measurement stalled`)), 120_000);
    onChunk((length) => {
      got += length;
      if (got < bytes) return;
      got -= bytes;
      rounds++;
      if (rounds === warmup) t0 = performance.now();
      if (rounds === warmup + steps) {
        clearTimeout(timer);
        resolve(performance.now() - t0);
      } else write(Buffer.from([1]));
    });
    setTimeout(() => write(Buffer.from([1])), firstDelayMs);
  });
}

/** Round trips of `bytes` through the local transport's FIFOs to a minimal blocking Node child, without framing or msgpack. */
async function pipeFloor(bytes: number, steps: number, warmup: number): Promise<number> {
  const { spawn } = await import('node:child_process');
  const endpoint = LocalEndpoint.create();
  if (!endpoint) return NaN;
  const { request, reply, token } = endpoint.offer();
  const child = [
    `const fs = require('fs'); const input = fs.openSync(${JSON.stringify(request)}, 'r'); const output = fs.openSync(${JSON.stringify(reply)}, 'w');`,
    `fs.readSync(input, Buffer.alloc(${token.length})); const b = Buffer.alloc(${bytes}, 7); const one = Buffer.alloc(1);`,
    'for (;;) { if (fs.readSync(input, one) === 0) process.exit(0); fs.writeSync(output, b); }',
  ].join(' ');
  const proc = spawn(process.execPath, ['-e', child], { stdio: 'ignore' });
  try {
    return await timeRoundTrips('pipe', (listener) => endpoint.onData((d) => listener(d.length)), (b) => endpoint.write(b), bytes, steps, warmup, 0);
  } finally {
    proc.kill('SIGKILL');
    endpoint.close();
  }
}

/** A throwaway module with a constant-frame numpy env, so the figure is the bridge's own cost. */
async function pythonEnv(python: string, size: number, frames: 'noise' | 'rendered'): Promise<RemoteEnvOptions & { env: { PYTHONPATH: string } }> {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(os.tmpdir(), 'curl-rl-bench-'));
  writeFileSync(
    join(dir, 'benchenv.py'),
    [
      'import numpy as np',
      'class B:',
      '    def __init__(s, lo, hi, shape, dt): s.low, s.high, s.shape, s.dtype = lo, hi, shape, np.dtype(dt)',
      'class E:',
      `    observation_space = B(0, 255, (${size}, ${size}, 3), np.uint8)`,
      '    action_space = B(-1.0, 1.0, (2,), np.float32)',
      frames === 'rendered'
        ? `    frame = np.where(np.arange(${size})[:, None, None] < ${Math.floor(size * 0.6)}, np.uint8([40, 70, 140]), np.uint8([90, 100, 95])).repeat(${size}, 1)`
        : `    frame = np.random.default_rng(0).integers(0, 256, (${size}, ${size}, 3)).astype(np.uint8)`,
      '    def reset(s, seed=None, options=None): return s.frame, {}',
      '    def step(s, a): return s.frame, float(a[0]), False, False, {}',
      'def make(): return E()',
      '',
    ].join('\n'),
  );
  return { command: joinCommand([python, BRIDGE_PATH, '--env', 'benchenv:make']), env: { PYTHONPATH: dir } };
}

function round(x: number): number {
  return Number(x.toFixed(4));
}

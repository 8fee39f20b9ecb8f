import { closeSync, existsSync, fstatSync, readSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRemoteEnv, RemoteEnv, RemoteProtocolError, testServerCommand } from '../../envs/remote/index.js';
import { LocalEndpoint, openLocalServer, type LocalOffer } from '../../envs/remote/local-transport.js';
import { renderedFrame } from '../../envs/remote/test-pattern.js';
import { closedAfterEach, expectedFrame, pidExists } from './helpers.js';

/** The offer a live env's channel made (the channel keeps it; tests only read the paths). */
function offerOf(env: RemoteEnv): LocalOffer {
  return (env as unknown as { channel: { localOffer(): LocalOffer | undefined } }).channel.localOffer()!;
}

describe('LocalEndpoint and openLocalServer', () => {
  it('make two private FIFOs with the token waiting, carry bytes both ways, and close() removes them', async () => {
    const created = LocalEndpoint.create();
    // undefined would mean this platform has no FIFOs: these tests run on Linux, where it must work
    expect(created).toBeInstanceOf(LocalEndpoint);
    const endpoint = created!;
    const offer = endpoint.offer();
    expect(offer.token).toMatch(/^[0-9a-f]{32}$/);
    for (const path of [offer.request, offer.reply]) {
      expect(statSync(path).isFIFO()).toBe(true);
      expect(statSync(path).mode & 0o777).toBe(0o600);
    }
    expect(statSync(dirname(offer.request)).mode & 0o777).toBe(0o700);

    const opened = openLocalServer(offer);
    // two open descriptors: the request FIFO for reading, the reply FIFO for writing
    expect(opened).toEqual({ input: expect.any(Number), output: expect.any(Number) });
    const server = opened!;
    expect(fstatSync(server.input).isFIFO() && fstatSync(server.output).isFIFO()).toBe(true);
    expect(fstatSync(server.input).ino).toBe(statSync(offer.request).ino);
    expect(fstatSync(server.output).ino).toBe(statSync(offer.reply).ino);
    try {
      endpoint.write(Buffer.from('request bytes'));
      const got = Buffer.alloc(64);
      expect(got.subarray(0, readSync(server.input, got)).toString()).toBe('request bytes');
      const bytes = Buffer.alloc(40_000).map((_, i) => (i * 7) & 255);
      const chunks: Buffer[] = [];
      const done = new Promise<void>((resolve) =>
        endpoint.onData((chunk) => {
          chunks.push(chunk);
          if (Buffer.concat(chunks).length >= bytes.length) resolve();
        }),
      );
      // One write: a pipe takes the whole frame (a pty would take ~4 KB).
      expect(writeSync(server.output, bytes)).toBe(bytes.length);
      await done;
      expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    } finally {
      closeSync(server.input);
      closeSync(server.output);
      endpoint.close();
    }
    expect(existsSync(dirname(offer.request))).toBe(false);
    endpoint.close();
  });

  it('a server that cannot see the FIFOs, or finds another token there, stays on the pty without blocking', () => {
    for (const bad of [undefined, null, 'x', {}, { token: '', request: '/tmp/x', reply: '/tmp/y' }, { token: 'ab', request: 1, reply: '/tmp/y' }]) {
      expect(openLocalServer(bad)).toBeUndefined();
    }
    const endpoint = LocalEndpoint.create()!;
    try {
      const offer = endpoint.offer();
      expect(openLocalServer({ ...offer, request: `${offer.request}-missing` })).toBeUndefined();
      expect(openLocalServer({ ...offer, token: 'f'.repeat(32) })).toBeUndefined();
    } finally {
      endpoint.close();
    }
  });
});

describe('the local transport with the Node test server', () => {
  const opened = closedAfterEach();
  const open = async (flags: string[], localTransport?: boolean): Promise<RemoteEnv> => {
    const env = await createRemoteEnv({ command: testServerCommand(flags), timeoutMs: 20_000, ...(localTransport === undefined ? {} : { localTransport }) });
    opened.push(env);
    return env;
  };

  it('is used by default; the pipes go when the env closes', async () => {
    const env = await open(['--size', '32', '--frames', 'rendered']);
    expect(env.localTransport).toBe(true);
    const dir = dirname(offerOf(env).request);
    expect(existsSync(dir)).toBe(true);
    await env.reset({ seed: 2 });
    for (let t = 1; t <= 3; t++) {
      const r = await env.step(new Float32Array([0, 0]));
      expect(Buffer.compare(r.observation as Uint8Array, renderedFrame(2, t, 32))).toBe(0);
    }
    await env.close();
    expect(existsSync(dir)).toBe(false);
  });

  it('a request larger than the pipe holds (64 KB) crosses in pieces, and the next one follows it intact', async () => {
    const env = await open(['--size', '8']);
    expect(env.localTransport).toBe(true);
    const blob = 'x'.repeat(300_000);
    const first = await env.reset({ seed: 3, options: { blob } });
    expect(Buffer.compare(first.observation as Uint8Array, expectedFrame(3, 0, 8))).toBe(0);
    const r = await env.step(new Float32Array([0.5, 0]));
    expect(r.info.step).toBe(1);
    expect(Buffer.compare(r.observation as Uint8Array, expectedFrame(3, 1, 8))).toBe(0);
  });

  it('a server that ignores the offer (as one on another host) keeps the frames on the pty, bit-exact', async () => {
    const env = await open(['--size', '32', '--no-local']);
    expect(env.localTransport).toBe(false);
    await env.reset({ seed: 6 });
    const r = await env.step(new Float32Array([0, 0]));
    expect(Buffer.compare(r.observation as Uint8Array, expectedFrame(6, 1, 32))).toBe(0);
  });

  it('a reply on the terminal after the move is a protocol error; the process is killed and the pipes removed', async () => {
    const env = await open(['--size', '4', '--stray-after', '1']);
    expect(env.localTransport).toBe(true);
    const dir = dirname(offerOf(env).request);
    await env.reset({ seed: 1 });
    await env.step(new Float32Array([0, 0]));
    const error = (await env.step(new Float32Array([0, 0])).catch((e: unknown) => e)) as RemoteProtocolError;
    expect(error).toBeInstanceOf(RemoteProtocolError);
    expect(error.message).toMatch(/wrote to its terminal after moving to the local transport: "CRLP/);
    expect(error.stderrTail).toContain('replying on the terminal at step 1');
    expect(pidExists(env.pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it('a restarted process gets fresh pipes', async () => {
    const env = await open(['--size', '4', '--crash-after', '0']);
    const first = dirname(offerOf(env).request);
    await env.reset({ seed: 1 });
    await expect(env.step(new Float32Array([0, 0]))).rejects.toThrow(/exited with code 3/);
    await env.restart();
    expect(env.localTransport).toBe(true);
    expect(existsSync(first)).toBe(false);
    expect(dirname(offerOf(env).request)).not.toBe(first);
    const r = await env.reset({ seed: 1 });
    expect(Buffer.compare(r.observation as Uint8Array, expectedFrame(1, 0, 4))).toBe(0);
  });
});

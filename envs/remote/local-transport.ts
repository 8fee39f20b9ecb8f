/*
 * The local transport (PROTOCOL.md, "Local transport"): when the server runs
 * on this machine, frames move from the pty to a pair of named pipes after the
 * spec reply. A pty hands a reader at most ~4 KB per wake-up and routes every
 * write through a kernel worker, so a 30 KB observation cost ~8 wake-ups and a
 * round trip ~0.1 ms before any work; a pipe takes a whole frame (up to 64 KB)
 * in one write and wakes the reader directly.
 *
 * The client makes both FIFOs in a private (0700) directory and writes a random
 * token into the request FIFO. A server uses them only if it can open the path
 * and reads that token there, so a server on another host or in a container
 * without the directory keeps to the pty. The pty stays open either way: it
 * still owns the process's lifetime (exit, kill) and must carry nothing more.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What the client offers in its `spec` request as `local`. */
export interface LocalOffer {
  /** Random hex; the first bytes a server reads from `request`. */
  token: string;
  /** FIFO the client writes requests into (after the spec reply). */
  request: string;
  /** FIFO the client reads replies from. */
  reply: string;
}

/** The client's side: owns the directory and both FIFOs. */
export class LocalEndpoint {
  private readonly requestFd: number;
  /** For the rare write the pipe cannot take at once (EAGAIN): it queues and waits for room. */
  private readonly requestSocket: Socket;
  private readonly replyFd: number;
  /** Made when the server has agreed: until then nothing may arrive. */
  private replySocket: Socket | undefined;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly offered: LocalOffer,
  ) {
    // O_RDWR on both: opening never blocks on the other end, a write never
    // fails for want of a reader, and the reply pipe never reads as ended when
    // the server goes away (its exit comes through the pty instead).
    const flags = constants.O_RDWR | constants.O_NONBLOCK;
    this.requestFd = openSync(offered.request, flags);
    try {
      this.replyFd = openSync(offered.reply, flags);
    } catch (error) {
      closeSync(this.requestFd);
      throw error;
    }
    // Write-only: it must never read our own requests back.
    this.requestSocket = new Socket({ fd: this.requestFd, readable: false, writable: true });
    this.requestSocket.on('error', () => {});
    try {
      writeSync(this.requestFd, offered.token);
    } catch (error) {
      this.requestSocket.destroy();
      closeSync(this.replyFd);
      throw error;
    }
  }

  /** Two FIFOs in a new private directory (tmpfs when there is one); undefined if they cannot be made here. */
  static create(): LocalEndpoint | undefined {
    for (const base of ['/dev/shm', tmpdir()]) {
      let dir: string | undefined;
      try {
        dir = mkdtempSync(join(base, 'curl-rl-local-'));
        const offer: LocalOffer = { token: randomBytes(16).toString('hex'), request: join(dir, 'request'), reply: join(dir, 'reply') };
        // Node has no mkfifo(); coreutils does, and this runs once per process start.
        execFileSync('mkfifo', ['-m', '600', offer.request, offer.reply], { stdio: 'ignore' });
        return new LocalEndpoint(dir, offer);
      } catch {
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
      }
    }
    return undefined;
  }

  offer(): LocalOffer {
    return { ...this.offered };
  }

  /** Starts delivering reply bytes; called once the server has agreed. */
  onData(listener: (chunk: Buffer) => void): void {
    if (this.closed || this.replySocket) return;
    this.replySocket = new Socket({ fd: this.replyFd, readable: true, writable: false });
    // Errors (none expected: we hold the write end too) surface as the process's exit or a timeout.
    this.replySocket.on('error', () => {});
    this.replySocket.on('data', listener);
  }

  /**
   * Writes a request. Synchronously when the pipe has room (it has: one small
   * request at a time), a copy of the rest through the socket's queue. Errors
   * are not thrown: a server that cannot be written to is reported by its
   * exit or by the request's timeout, as on the pty.
   */
  write(frame: Buffer): void {
    if (this.closed) return;
    let offset = 0;
    // Behind a queued remainder (never in practice: a reply means the server read it all), queue too.
    if (this.requestSocket.writableLength === 0) {
      try {
        while (offset < frame.length) offset += writeSync(this.requestFd, frame, offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
    }
    // A copy: the caller may reuse `frame` once this returns.
    if (offset < frame.length) this.requestSocket.write(Buffer.from(frame.subarray(offset)));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.replySocket) this.replySocket.destroy();
    else closeSync(this.replyFd);
    this.requestSocket.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The server's side, for the Node test server (bridge.py has its own): opens
 * the offered FIFOs if this process can see them with the client's token in
 * the request FIFO. Returns blocking fds, or undefined to stay on the pty.
 */
export function openLocalServer(offer: unknown): { input: number; output: number } | undefined {
  if (typeof offer !== 'object' || offer === null) return undefined;
  const { token, request, reply } = offer as Partial<Record<keyof LocalOffer, unknown>>;
  if (typeof token !== 'string' || token.length === 0 || typeof request !== 'string' || typeof reply !== 'string') return undefined;
  const fds: number[] = [];
  try {
    // A non-blocking look first: an unknown FIFO must not hang the open or the read.
    const probe = openSync(request, constants.O_RDONLY | constants.O_NONBLOCK);
    fds.push(probe);
    const expected = Buffer.from(token, 'utf8');
    const got = Buffer.alloc(expected.length);
    const n = readSync(probe, got, 0, got.length, null);
    if (n !== got.length || !got.equals(expected)) throw new Error('not the client FIFO');
    // Both opens return at once: the client holds each FIFO open for reading and writing.
    const input = openSync(request, constants.O_RDONLY);
    fds.push(input);
    const output = openSync(reply, constants.O_WRONLY);
    closeSync(probe);
    return { input, output };
  } catch {
    for (const fd of fds) closeSync(fd);
    return undefined;
  }
}

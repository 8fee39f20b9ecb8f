import { mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn as ptySpawn, type IPty } from 'node-pty';
import { EnvError } from '../errors.js';
import { splitCommand } from './command.js';
import { RemoteEnvError, RemoteEnvRaisedError, RemoteProcessExitedError, RemoteProtocolError, RemoteTimeoutError } from './errors.js';
import { encodeFrame, FrameDecoder, previewBytes, type Message } from './framing.js';
import { LocalEndpoint, type LocalOffer } from './local-transport.js';
import { describe, PROTOCOL_VERSION } from './protocol.js';
import { readTail } from './stderr-tail.js';

export interface ChannelOptions {
  /** Shell-style command line; split without a shell (see splitCommand). */
  command: string;
  /** Per request. */
  timeoutMs: number;
  /** For the start-up hello (imports can be slow). Default: max(timeoutMs, 30000). */
  startupTimeoutMs?: number;
  cwd?: string;
  env?: Record<string, string>;
}

interface Pending {
  type: string;
  seq: number | undefined;
  resolve: (message: Message) => void;
  reject: (error: Error) => void;
}

interface ExitInfo {
  exitCode: number;
  signal: number | undefined;
}

/**
 * The wrapper runs inside the pty: it makes the terminal raw (8-bit clean: no
 * echo, no CR/LF translation, no signal characters) before the real command
 * starts, and sends the command's stderr to a file so the pty carries only
 * frames. `exec` keeps the pid: the pty's child is the command itself.
 */
const WRAPPER = 'f=$1; shift; stty raw -echo 2>/dev/null; exec "$@" 2>>"$f"';

const live = new Set<RemoteChannel>();
let exitHookInstalled = false;

/** Last resort: a Node process that exits (even on an uncaught error) takes its remote envs with it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const channel of live) {
      channel.killNow();
      channel.removeFiles();
    }
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * One remote env process and its framed request/response channel. Exactly
 * one request is in flight at a time; every reply must echo the request's
 * `seq`, so a lost, duplicated or reordered message is a protocol error.
 * Any fatal failure (exit, timeout, garbage) kills the whole process group
 * before the error reaches the caller, so the pid is gone when it does.
 */
export class RemoteChannel {
  readonly pid: number;
  readonly hello: Message;
  private readonly pty: IPty;
  private readonly decoder = new FrameDecoder();
  private readonly stderrDir: string;
  private readonly stderrPath: string;
  private readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private pending: Pending | undefined;
  private failure: RemoteEnvError | undefined;
  private closing = false;
  private closed = false;
  private seq = 0;
  /** Offered in the spec request (see localOffer); frames move to it when the server agrees. */
  private local: LocalEndpoint | undefined;
  private localActive = false;
  private readonly localDecoder = new FrameDecoder();
  /**
   * One timer for every request, re-armed per request (refresh() when the
   * duration is unchanged) instead of a new one per step.
   */
  private timer: NodeJS.Timeout | undefined;
  private timerMs = 0;
  private timerArmed = false;
  private readonly timeoutMs: number;
  /** Exposed so the spec request (still start-up) can use it too. */
  readonly startupTimeoutMs: number;

  static async open(options: ChannelOptions): Promise<RemoteChannel> {
    const channel = new RemoteChannel(options);
    try {
      await channel.awaitHello();
    } catch (error) {
      await channel.close();
      throw error;
    }
    return channel;
  }

  private constructor(options: ChannelOptions) {
    const argv = splitCommand(options.command);
    this.timeoutMs = options.timeoutMs;
    this.startupTimeoutMs = options.startupTimeoutMs ?? Math.max(options.timeoutMs, 30_000);
    this.stderrDir = mkdtempSync(join(tmpdir(), 'curl-rl-remote-'));
    this.stderrPath = join(this.stderrDir, 'stderr.log');
    try {
      this.pty = ptySpawn('/bin/sh', ['-c', WRAPPER, 'curl-rl-remote', this.stderrPath, ...argv], {
        name: 'xterm',
        cols: 200,
        rows: 50,
        cwd: options.cwd ?? process.cwd(),
        env: { ...process.env, ...options.env },
        encoding: null,
      });
    } catch (error) {
      rmSync(this.stderrDir, { recursive: true, force: true });
      throw new RemoteEnvError(`could not start the remote env command ${JSON.stringify(options.command)}: ${(error as Error).message}`, '', { cause: error });
    }
    this.pid = this.pty.pid;
    live.add(this);
    installExitHook();
    this.exited = new Promise((resolve) => {
      this.pty.onExit(({ exitCode, signal }) => {
        // Stays in `live` until cleanup: children in its process group may outlive it.
        this.exitInfo = { exitCode, signal: signal || undefined };
        resolve(this.exitInfo);
        this.onExit();
      });
    });
    // With encoding: null node-pty hands over Buffers; its typings still say string.
    this.pty.onData((data) => this.onPtyData(data as unknown as Buffer));
    this.hello = {} as Message;
  }

  /** The last lines the process wrote to stderr. */
  stderrTail(): string {
    return readTail(this.stderrPath);
  }

  /**
   * The local transport to offer in the spec request (PROTOCOL.md, "Local
   * transport"), made on first use; undefined when it cannot be made here.
   */
  localOffer(): LocalOffer | undefined {
    if (this.closed || this.failure) return undefined;
    this.local ??= LocalEndpoint.create();
    return this.local?.offer();
  }

  /** 'local' once the server has moved the frames to the local transport's pipes. */
  get transport(): 'pty' | 'local' {
    return this.localActive ? 'local' : 'pty';
  }

  get alive(): boolean {
    return !this.closed && this.failure === undefined && this.exitInfo === undefined;
  }

  private awaitHello(): Promise<void> {
    return this.expect('hello', undefined, this.startupTimeoutMs).then((hello) => {
      (this as { hello: Message }).hello = hello;
      if (hello.protocol !== PROTOCOL_VERSION) {
        throw this.fail(
          new RemoteProtocolError(
            `protocol version mismatch: the remote env speaks version ${describe(hello.protocol)}, this curl-rl speaks version ${PROTOCOL_VERSION}. ` +
              'Use the bridge shipped with this package (envs/remote/bridge.py) or update the server.',
            this.stderrTail(),
          ),
        );
      }
    });
  }

  /** Sends one request and resolves with its reply; an `error` reply rejects with RemoteEnvRaisedError (not fatal). */
  request(message: Message, timeoutMs = this.timeoutMs): Promise<Message> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed || this.closing) return Promise.reject(new RemoteEnvError(`remote env process ${this.pid} is closed; call restart() to start a new one`));
    return this.send(message, timeoutMs);
  }

  private send(message: Message, timeoutMs: number): Promise<Message> {
    if (this.pending) {
      return Promise.reject(new EnvError(`remote env: '${message.type}' sent while '${this.pending.type}' is still waiting; await each call before the next`));
    }
    let frame: Buffer;
    try {
      // Before anything waits on it: a message that cannot be encoded fails alone.
      frame = encodeFrame({ ...message, seq: this.seq + 1 });
    } catch (error) {
      return Promise.reject(new EnvError(`remote env: cannot send '${message.type}': ${(error as Error).message}`));
    }
    const seq = ++this.seq;
    const reply = this.expect(message.type, seq, timeoutMs);
    // After an exit the pty is gone; the pending exit handler fails this request.
    // Both writers finish with `frame` before returning (the rest, if any, is copied).
    if (!this.exitInfo) {
      if (this.localActive) this.local!.write(frame);
      else this.write(frame);
    }
    return reply;
  }

  /**
   * node-pty's write() goes through the libuv thread pool (an async fs.write
   * per call), which cost about 0.1 ms per step here. A request is small and
   * the master fd almost always has room, so write it synchronously when the
   * fd is reachable, and hand any remainder (EAGAIN) to node-pty's queue.
   * Errors (the child is gone) are left to the exit handler to report.
   */
  private write(frame: Buffer): void {
    const fd = (this.pty as unknown as { _fd?: unknown })._fd;
    let offset = 0;
    if (typeof fd === 'number') {
      try {
        while (offset < frame.length) offset += writeSync(fd, frame, offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
    }
    // node-pty copies what it queues (CustomWriteStream: Buffer.from), so the caller may reuse `frame`.
    if (offset < frame.length) this.pty.write(frame.subarray(offset));
  }

  private expect(type: string, seq: number | undefined, timeoutMs = this.timeoutMs): Promise<Message> {
    return new Promise<Message>((resolve, reject) => {
      this.pending = { type, seq, resolve, reject };
      this.armTimer(timeoutMs);
    });
  }

  private armTimer(ms: number): void {
    this.timerArmed = true;
    if (this.timer && this.timerMs === ms) {
      this.timer.ref().refresh();
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timerMs = ms;
    this.timer = setTimeout(() => this.onTimeout(), ms);
  }

  private onTimeout(): void {
    const pending = this.pending;
    // A refresh()ed timer may still fire once for a request that was just settled.
    if (!this.timerArmed || !pending) return;
    const what = pending.seq === undefined ? 'hello at start-up' : `reply to '${pending.type}'`;
    this.fail(new RemoteTimeoutError(`remote env process ${this.pid} sent no ${what} within ${this.timerMs} ms; it has been killed`, this.stderrTail(), this.timerMs));
  }

  private onPtyData(chunk: Buffer): void {
    if (this.failure || this.closed) return;
    if (this.localActive) {
      this.fail(
        new RemoteProtocolError(
          `remote env process ${this.pid} broke the protocol: it wrote to its terminal after moving to the local transport: ${previewBytes(chunk)}`,
          this.stderrTail(),
        ),
      );
      return;
    }
    this.onData(chunk, this.decoder);
  }

  private onLocalData(chunk: Buffer): void {
    if (this.failure || this.closed) return;
    this.onData(chunk, this.localDecoder);
  }

  private onData(chunk: Buffer, decoder: FrameDecoder): void {
    let messages: Message[];
    try {
      messages = decoder.push(chunk);
    } catch (error) {
      const e = error as RemoteProtocolError;
      this.fail(new RemoteProtocolError(`remote env process ${this.pid} broke the protocol: ${e.message}`, this.stderrTail()));
      return;
    }
    for (const message of messages) {
      this.dispatch(message);
      if (this.failure) return;
    }
  }

  private dispatch(message: Message): void {
    const pending = this.pending;
    if (!pending) {
      this.fail(new RemoteProtocolError(`remote env process ${this.pid} sent an unsolicited '${message.type}' message`, this.stderrTail()));
      return;
    }
    if (pending.seq !== undefined && message.seq !== pending.seq) {
      this.fail(
        new RemoteProtocolError(
          `remote env process ${this.pid} answered seq ${describe(message.seq)} while seq ${pending.seq} ('${pending.type}') was waiting: a message was lost or duplicated`,
          this.stderrTail(),
        ),
      );
      return;
    }
    if (message.type === 'error') {
      this.settle();
      const str = (v: unknown, fallback: string): string => (typeof v === 'string' ? v : fallback);
      pending.reject(
        new RemoteEnvRaisedError(pending.type, str(message.error_type, 'Error'), str(message.message, '(no message)'), str(message.traceback, ''), this.stderrTail()),
      );
      return;
    }
    if (message.type !== pending.type) {
      this.fail(
        new RemoteProtocolError(`remote env process ${this.pid} answered '${pending.type}' with a '${message.type}' message`, this.stderrTail()),
      );
      return;
    }
    if (message.type === 'spec' && this.local && !this.localActive) {
      if (message.local === true) {
        // The server has opened the pipes and sends everything after this reply through them.
        if (this.decoder.midFrame) {
          this.fail(new RemoteProtocolError(`remote env process ${this.pid} broke the protocol: it wrote more to its terminal after its spec reply`, this.stderrTail()));
          return;
        }
        this.localActive = true;
        this.local.onData((chunk) => this.onLocalData(chunk));
      } else {
        // Declined (or not understood): the frames stay on the pty and the pipes are not needed.
        this.local.close();
        this.local = undefined;
      }
    }
    this.settle();
    pending.resolve(message);
  }

  private settle(): void {
    this.pending = undefined;
    if (this.timerArmed) {
      this.timerArmed = false;
      // Left to expire unless the next request re-arms it first (the usual case, each step): no clear/set per step.
      // It must not hold the event loop open meanwhile.
      this.timer?.unref();
    }
  }

  private onExit(): void {
    if (this.closing && this.pending) {
      // Exiting is the expected answer to 'close'; nothing else will come.
      const pending = this.pending;
      this.settle();
      pending.reject(new RemoteEnvError(`remote env process ${this.pid} exited during close`));
      return;
    }
    if (this.closing || this.closed || this.failure) return;
    // Let bytes the process wrote just before exiting (an error reply) drain first.
    setTimeout(() => {
      if (this.closing || this.closed || this.failure) return;
      const info = this.exitInfo!;
      const how = info.signal ? `was killed by signal ${info.signal}` : `exited with code ${info.exitCode}`;
      const pending = this.pending;
      const when = !pending ? '' : pending.seq === undefined ? ' before sending its hello' : ` while '${pending.type}' was waiting for its reply`;
      const partial = (this.localActive ? this.localDecoder : this.decoder).midFrame ? ' (in the middle of a message)' : '';
      this.fail(
        new RemoteProcessExitedError(`remote env process ${this.pid} ${how}${when}${partial}`, this.stderrTail(), {
          exitCode: info.exitCode,
          signal: info.signal,
        }),
      );
    }, 20);
  }

  /**
   * Marks the channel failed, kills the process group, and rejects the
   * waiting request once the process is gone. Returns the error for `throw`.
   */
  private fail(error: RemoteEnvError): RemoteEnvError {
    if (this.failure) return this.failure;
    this.failure = error;
    const pending = this.pending;
    this.settle();
    this.killNow();
    void this.waitExit(5_000).then(() => {
      this.cleanup();
      pending?.reject(error);
    });
    return error;
  }

  /** SIGKILL to the process group (the pty child leads its own session, so its children go too). */
  killNow(signal: NodeJS.Signals = 'SIGKILL'): void {
    for (const target of [-this.pid, this.pid]) {
      try {
        process.kill(target, signal);
      } catch {
        // ESRCH: already gone.
      }
    }
  }

  private async waitExit(ms: number): Promise<boolean> {
    if (this.exitInfo) return true;
    return Promise.race([this.exited.then(() => true), sleep(ms).then(() => false)]);
  }

  /**
   * Asks the process to close, then escalates (SIGTERM, SIGKILL) until it is
   * gone and reaped. Safe to call at any time, any number of times.
   */
  async close(graceMs = 2_000): Promise<void> {
    if (this.closed) return;
    if (this.alive && !this.closing && !this.pending) {
      this.closing = true;
      try {
        await this.send({ type: 'close' }, Math.min(this.timeoutMs, 5_000));
      } catch {
        // A process that cannot even close politely is killed below.
      }
    }
    this.closing = true;
    if (!(await this.waitExit(graceMs))) {
      this.killNow('SIGTERM');
      if (!(await this.waitExit(1_000))) {
        this.killNow('SIGKILL');
        await this.waitExit(5_000);
      }
    }
    // Strays that left the leader's group alive (e.g. it exited first) get no second chance.
    this.killNow('SIGKILL');
    if (this.pending) {
      const pending = this.pending;
      this.settle();
      pending.reject(new RemoteEnvError(`remote env process ${this.pid} was closed while '${pending.type}' was waiting`));
    }
    this.closed = true;
    this.cleanup();
  }

  private cleanup(): void {
    live.delete(this);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerArmed = false;
    this.removeFiles();
  }

  /** The stderr log and the local transport's pipes. */
  removeFiles(): void {
    this.local?.close();
    rmSync(this.stderrDir, { recursive: true, force: true });
  }
}

import { statSync } from 'node:fs';
import { EnvError, InvalidActionError } from '../errors.js';
import type { Action, BoxSpace, Env, Info, Observation, ResetOptions, ResetResult, Space, StepResult } from '../types.js';
import { RemoteChannel } from './channel.js';
import { RemoteProtocolError } from './errors.js';
import type { Message } from './framing.js';
import { ARRAY_ENCODINGS, decodeArray, describe, encodeArray, parseSpace, PROTOCOL_VERSION, spaceToJson } from './protocol.js';

export * from './errors.js';
export { RemoteCommandError, splitCommand, joinCommand, quoteArg, testServerCommand, BRIDGE_PATH, TEST_SERVER_PATH } from './command.js';
export { PROTOCOL_VERSION } from './protocol.js';

export interface RemoteEnvOptions {
  /** Shell-style command line, split without a shell, e.g. `python3 envs/remote/bridge.py --env mymod:make_env`. */
  command: string;
  /** Per request; on expiry the process is killed. Default 30000. */
  timeoutMs?: number;
  /** For start-up (hello and spec), where imports can be slow. Default max(timeoutMs, 30000). */
  startupTimeoutMs?: number;
  cwd?: string;
  env?: Record<string, string>;
  /**
   * Let the server send zlib-compressed observations and frames (it does so
   * only when that pays). Default true; a server that does not know the
   * option sends raw bytes.
   */
  compress?: boolean;
  /**
   * Offer the server the local transport (PROTOCOL.md, "Local transport"):
   * after the spec, frames cross two named pipes instead of the pty, which
   * moves ~4 KB per wake-up (a 30 KB frame took ~8) and adds a kernel worker
   * hop to every write. Default true; a server that cannot open the pipes
   * (another host, another mount namespace) or does not know the offer keeps
   * to the pty.
   */
  localTransport?: boolean;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

interface RemoteSpec {
  id: string;
  /** The frames moved to the local transport after the spec reply. */
  local: boolean;
  observationSpace: Space;
  actionSpace: Space;
  metadata: Record<string, unknown>;
}

/** Callers from plain JS (the registry passes an optional --remote-cmd) get a clear error, not a crash. */
function normalizeOptions(options: Partial<RemoteEnvOptions>): RemoteEnvOptions & { timeoutMs: number } {
  if (typeof options.command !== 'string' || options.command.trim() === '') {
    throw new EnvError('remote env: a command is required, e.g. --remote-cmd "python3 envs/remote/bridge.py --env mymod:make_env"');
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  for (const [name, ms] of [['timeoutMs', timeoutMs], ['startupTimeoutMs', options.startupTimeoutMs ?? 1]] as const) {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) throw new EnvError(`remote env: ${name} must be a positive number of ms, got ${String(ms)}`);
  }
  const cwd = options.cwd;
  if (cwd !== undefined && !isDirectory(cwd)) throw new EnvError(`remote env: cwd ${JSON.stringify(cwd)} is not a directory`);
  return { ...options, command: options.command, timeoutMs };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

async function readSpec(channel: RemoteChannel, options: Pick<RemoteEnvOptions, 'compress' | 'localTransport'>): Promise<RemoteSpec> {
  const local = options.localTransport === false ? undefined : channel.localOffer();
  const request = {
    type: 'spec',
    ...(options.compress === false ? {} : { accept_encoding: [...ARRAY_ENCODINGS] }),
    ...(local ? { local } : {}),
  };
  const reply = await channel.request(request, channel.startupTimeoutMs);
  const id = typeof reply.id === 'string' && reply.id ? reply.id : 'unnamed';
  const metadata = typeof reply.metadata === 'object' && reply.metadata !== null && !Array.isArray(reply.metadata) ? (reply.metadata as Record<string, unknown>) : {};
  try {
    return {
      id,
      local: channel.transport === 'local',
      observationSpace: parseSpace(reply.observation_space, 'spec.observation_space'),
      actionSpace: parseSpace(reply.action_space, 'spec.action_space'),
      metadata,
    };
  } catch (error) {
    throw new RemoteProtocolError(`remote env sent an unusable spec: ${(error as Error).message}`, channel.stderrTail());
  }
}

/** The process is useless without a spec: never leave it running after a failed one. */
async function readSpecOrClose(channel: RemoteChannel, options: Pick<RemoteEnvOptions, 'compress' | 'localTransport'>): Promise<RemoteSpec> {
  try {
    return await readSpec(channel, options);
  } catch (error) {
    await channel.close();
    throw error;
  }
}

/**
 * An environment served by another process (any language) over the protocol
 * in PROTOCOL.md. Every method awaits the far side; failures are typed
 * (`Remote*Error`), and a failed env can be `restart()`ed and reset again.
 */
export class RemoteEnv implements Env {
  readonly id: string;
  readonly observationSpace: Space;
  readonly actionSpace: Space;
  private readonly options: RemoteEnvOptions & { timeoutMs: number };
  private channel: RemoteChannel;
  private readonly specKey: string;
  private needsReset = true;
  private restartCount = 0;
  private local: boolean;

  /** Use createRemoteEnv. */
  private constructor(options: RemoteEnvOptions & { timeoutMs: number }, channel: RemoteChannel, spec: RemoteSpec) {
    this.options = options;
    this.channel = channel;
    this.id = `remote:${spec.id}`;
    this.observationSpace = spec.observationSpace;
    this.actionSpace = spec.actionSpace;
    this.specKey = specKey(spec);
    this.local = spec.local;
  }

  /** @internal */
  static async start(options: RemoteEnvOptions & { timeoutMs: number }): Promise<RemoteEnv> {
    const channel = await RemoteChannel.open(options);
    const spec = await readSpecOrClose(channel, options);
    return new RemoteEnv(options, channel, spec);
  }

  /** The current process's pid (a new one after restart()). */
  get pid(): number | undefined {
    return this.channel.pid;
  }

  /** Whether the current process's frames cross the local transport's pipes (else the pty). */
  get localTransport(): boolean {
    return this.local;
  }

  /** How many times restart() has replaced the process. */
  get restarts(): number {
    return this.restartCount;
  }

  async reset(options: ResetOptions = {}): Promise<ResetResult> {
    if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) throw new EnvError(`reset: seed must be an integer, got ${String(options.seed)}`);
    const reply = await this.channel.request({ type: 'reset', seed: options.seed ?? null, options: options.options ?? null });
    const observation = this.observation(reply, 'reset');
    this.needsReset = false;
    return { observation, info: this.info(reply) };
  }

  async step(action: Action): Promise<StepResult> {
    if (this.needsReset) throw new EnvError(`${this.id}: call reset() before step() (a new or restarted remote env has no episode yet)`);
    const wireAction = this.encodeAction(action);
    const reply = await this.channel.request({ type: 'step', action: wireAction });
    const observation = this.observation(reply, 'step');
    const { reward, terminated, truncated } = reply;
    if (typeof reward !== 'number' || !Number.isFinite(reward)) throw this.protocolError(`step.reward must be a finite number, got ${describe(reward)}`);
    if (typeof terminated !== 'boolean' || typeof truncated !== 'boolean') {
      throw this.protocolError(`step.terminated and step.truncated must be booleans, got ${describe(terminated)} and ${describe(truncated)}`);
    }
    return { observation, reward, terminated, truncated, info: this.info(reply) };
  }

  /** An RGB frame from the far side's render(), or undefined if it has none. */
  async render(): Promise<Uint8Array | undefined> {
    const reply = await this.channel.request({ type: 'render' });
    if (reply.frame === null || reply.frame === undefined) return undefined;
    const { array, dtype, shape } = decodeArray(reply.frame, 'render.frame');
    if (dtype !== 'uint8' || shape.length !== 3 || shape[2] !== 3) throw this.protocolError(`render.frame must be uint8 HxWx3, got ${dtype} [${shape.join(', ')}]`);
    return array as Uint8Array;
  }

  /** Stops the process (politely, then by signal); leaves no process behind. Idempotent. */
  async close(): Promise<void> {
    await this.channel.close();
  }

  /**
   * Replaces the process with a fresh one (same command), checking that it
   * serves the same spaces. The caller must reset() before stepping again:
   * the interrupted episode is over, never continued with made-up steps.
   */
  async restart(): Promise<void> {
    await this.channel.close();
    const channel = await RemoteChannel.open(this.options);
    const spec = await readSpecOrClose(channel, this.options);
    if (specKey(spec) !== this.specKey) {
      await channel.close();
      throw new RemoteProtocolError(`remote env changed its spaces across a restart: was ${this.specKey}, now ${specKey(spec)}`, channel.stderrTail());
    }
    this.channel = channel;
    this.local = spec.local;
    this.needsReset = true;
    this.restartCount += 1;
  }

  private encodeAction(action: Action): unknown {
    const space = this.actionSpace;
    if (space.kind === 'discrete') {
      if (typeof action !== 'number' || !Number.isInteger(action) || action < 0 || action >= space.n) {
        throw new InvalidActionError(`${this.id}: expected an integer action in [0, ${space.n}), got ${describe(action)}`);
      }
      return action;
    }
    const size = space.shape.reduce((a, b) => a * b, 1);
    if (!(action instanceof Float32Array) || action.length !== size) {
      throw new InvalidActionError(`${this.id}: expected a Float32Array of length ${size} (shape [${space.shape.join(', ')}]), got ${describeAction(action)}`);
    }
    for (let i = 0; i < action.length; i++) {
      if (!Number.isFinite(action[i]!)) throw new InvalidActionError(`${this.id}: action[${i}] is ${action[i]}; every element must be finite`);
    }
    return encodeArray(action, space.shape);
  }

  private observation(reply: Message, request: string): Observation {
    const { array, dtype, shape } = decodeArray(reply.observation, `${request}.observation`);
    const space = this.observationSpace;
    if (space.kind === 'box' && (dtype !== space.dtype || !sameShape(shape, space.shape))) {
      throw this.protocolError(
        `${request}.observation is ${dtype} [${shape.join(', ')}] but the spec promised ${(space as BoxSpace).dtype} [${space.shape.join(', ')}]`,
      );
    }
    return array;
  }

  private info(reply: Message): Info {
    const info = reply.info;
    return typeof info === 'object' && info !== null && !Array.isArray(info) ? (info as Info) : {};
  }

  private protocolError(message: string): RemoteProtocolError {
    return new RemoteProtocolError(`${this.id}: ${message}`, this.channel.stderrTail());
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function describeAction(action: unknown): string {
  if (ArrayBuffer.isView(action)) return `${action.constructor.name} of length ${(action as unknown as { length: number }).length}`;
  return describe(action);
}

function specKey(spec: RemoteSpec): string {
  return JSON.stringify([spaceToJson(spec.observationSpace), spaceToJson(spec.actionSpace)]);
}

/** Spawns the command, checks the protocol version, reads the spec. */
export async function createRemoteEnv(options: RemoteEnvOptions): Promise<RemoteEnv> {
  return RemoteEnv.start(normalizeOptions(options));
}

/** Starts the process only to read its spec (JSON-ready), then closes it. */
export async function fetchRemoteSpec(options: RemoteEnvOptions): Promise<{
  protocol: number;
  server: unknown;
  id: string;
  observationSpace: Record<string, unknown>;
  actionSpace: Record<string, unknown>;
  metadata: Record<string, unknown>;
}> {
  const channel = await RemoteChannel.open(normalizeOptions(options));
  try {
    // Only the spec is wanted: no pipes to make and remove.
    const spec = await readSpecOrClose(channel, { ...options, localTransport: false });
    return {
      protocol: PROTOCOL_VERSION,
      server: channel.hello.server ?? null,
      id: spec.id,
      observationSpace: spaceToJson(spec.observationSpace),
      actionSpace: spaceToJson(spec.actionSpace),
      metadata: spec.metadata,
    };
  } finally {
    await channel.close();
  }
}

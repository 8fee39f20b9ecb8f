/*
 * The loop's part of a checkpoint (loop.msgpack): counters, the loop's RNG,
 * the actor's frame stack and env snapshot, the metrics log's offset. Its
 * schema is the type's source, and a file is checked against it and against
 * the run's config before any of it is used: content with a valid checksum
 * but the wrong structure (another program's file, a hand edit) is a damaged
 * checkpoint, never a TypeError half way through a restore.
 */
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
import { Rng, type RngState } from '../core/rng.js';

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const finite = z.number().finite();

const countersSchema = z.object({
  agentStep: count,
  envStep: count,
  updates: count,
  episode: count,
  episodeReturn: finite,
  episodeLength: count,
  restarts: count,
  /** Agent steps below which actions are uniform random (initSteps, or longer after a resume without replay). */
  randomUntil: count,
});

const rngSchema = z.custom<{ prng: RngState; spareNormal: number | null }>((value) => Rng.stateProblem(value) === null, {
  message: 'is not a generator state',
});

const checkpointRecordSchema = z.object({
  type: z.literal('checkpoint'),
  agentStep: count,
  envStep: count,
  wallTime: finite,
  path: z.string(),
  reason: z.string(),
});

export const loopStateSchema = z.object({
  version: z.literal(1),
  counters: countersSchema,
  rng: rngSchema,
  needReset: z.boolean(),
  /** The frames in the actor's stack, oldest first; null when an episode must start on resume. */
  stackFrames: z.array(z.custom<Uint8Array>((value) => value instanceof Uint8Array, { message: 'is not a frame of bytes' })).nullable(),
  /** The env's own format, which its restoreSnapshot checks. */
  envSnapshot: z.record(z.unknown()).nullable(),
  metricsOffset: count,
  wallTime: finite,
  window: z.object({ envStep: count, updates: count, wallTime: finite }),
  metricSums: z.record(z.object({ sum: z.number(), count: count })),
  replaySaved: z.boolean(),
  /** The checkpoint's own metrics record, which the log gets after metricsOffset: a resume writes it back. */
  checkpointRecord: checkpointRecordSchema.optional(),
  /** Sizes of the TensorBoard event files (tb/) at the checkpoint: a resume cuts them back to these. */
  tensorboardFiles: z.record(count).optional(),
});

export type LoopState = z.infer<typeof loopStateSchema>;
export type Counters = LoopState['counters'];

/**
 * The loop state in `value`, checked against its schema and the run's frame
 * shape and stack. Throws ConfigError for a state of another format version
 * (written by an incompatible curl-rl), and a plain Error saying what is wrong
 * for anything else, which the checkpoint reader reports as damage.
 */
export function parseLoopState(value: unknown, config: Pick<Config, 'imageSize' | 'frameStack'>, file: string): LoopState {
  const version = typeof value === 'object' && value !== null ? (value as { version?: unknown }).version : undefined;
  if (typeof version === 'number' && version !== 1) throw new ConfigError(`${file} was written by an incompatible version of curl-rl (loop state v${version}; this one reads v1).`);
  const parsed = loopStateSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'the whole'}: ${i.message}`);
    throw new Error(`it is not a loop state (${issues.join('; ')}${parsed.error.issues.length > 3 ? '; ...' : ''})`);
  }
  const state = parsed.data;
  const frameBytes = config.imageSize * config.imageSize * 3;
  if (state.stackFrames && (state.stackFrames.length !== config.frameStack || state.stackFrames.some((f) => f.length !== frameBytes))) {
    throw new Error(
      `its frame stack holds ${state.stackFrames.length} frames of ${state.stackFrames.map((f) => f.length).join('/')} bytes; ` +
        `this run stacks ${config.frameStack} frames of ${config.imageSize}x${config.imageSize}x3 = ${frameBytes} bytes`,
    );
  }
  const { counters } = state;
  if (counters.episodeLength > counters.agentStep || counters.updates > counters.agentStep) {
    throw new Error(`its counters contradict each other (agent step ${counters.agentStep}, ${counters.updates} updates, episode length ${counters.episodeLength})`);
  }
  return state;
}

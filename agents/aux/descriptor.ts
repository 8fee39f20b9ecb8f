// What the toolkit knows about an auxiliary objective without running it: its
// name, the config fields it reads, the encoder passes it needs, its parameter
// count and FLOPs, the metrics it writes, how the report draws it, and where
// the code that runs it lives. Nothing here loads tfjs (tfjs appears in types
// only), so the config schema, the memory check, `--help` and the report read
// every objective cheaply; `load` imports the tfjs side when an agent is built.
import type { z } from 'zod';
import type { Rng } from '../../src/core/rng.js';
import type { ParamMap } from '../params.js';
import type { AuxNeeds, AuxObjective } from './objective.js';

/**
 * A config field that is absent unless given. Given with an objective that
 * does not read it, the config is refused (the value would be silently unused).
 */
export interface OptionalAuxOption<Z extends z.ZodTypeAny = z.ZodTypeAny> {
  readonly kind: 'optional';
  /** The values it takes (the schema holds it as `field.optional()`). */
  readonly field: Z;
  /** What it sets; --help puts the objectives that read it before this and their defaults after. */
  readonly help: string;
  /** The value this objective uses when the field is absent (objectives sharing the field may differ). */
  readonly default: z.output<Z>;
}

/** A config field with a schema default: always present in a config, and so in config.json. */
export interface DefaultedAuxOption<Z extends z.ZodTypeAny = z.ZodTypeAny> {
  readonly kind: 'defaulted';
  /** The values it takes (the schema holds it as `field.default(default)`). */
  readonly field: Z;
  readonly help: string;
  /** The schema's default, one for every objective that reads it. */
  readonly default: z.output<Z>;
  /**
   * Why a value other than the default is refused with an objective that does
   * not read it. Without one such a value is accepted and unused: the
   * projection sizes, which configs of every objective carry.
   */
  readonly unreadReason?: string;
}

export type AuxOption<Z extends z.ZodTypeAny = z.ZodTypeAny> = OptionalAuxOption<Z> | DefaultedAuxOption<Z>;

/** The config fields an objective reads, by field name (the flag is its kebab case: auxQueue -> --aux-queue). */
export type AuxOptionSet = { readonly [field: string]: AuxOption };

/** The values of an objective's options in one config, absent ones at their defaults. */
export type AuxOptionValues<O extends AuxOptionSet> = { readonly [F in keyof O]: z.output<O[F]['field']> };

export function optionalAuxOption<Z extends z.ZodTypeAny>(field: Z, help: string, defaultValue: z.output<Z>): OptionalAuxOption<Z> {
  return { kind: 'optional', field, help, default: defaultValue };
}

export function defaultedAuxOption<Z extends z.ZodTypeAny>(
  field: Z,
  defaultValue: z.output<Z>,
  help: string,
  unreadReason?: string,
): DefaultedAuxOption<Z> {
  return unreadReason === undefined
    ? { kind: 'defaulted', field, help, default: defaultValue }
    : { kind: 'defaulted', field, help, default: defaultValue, unreadReason };
}

/** The same optional field with this objective's own default. */
export function withDefault<Z extends z.ZodTypeAny>(option: OptionalAuxOption<Z>, value: z.output<Z>): OptionalAuxOption<Z> {
  return { ...option, default: value };
}

/** What one row of the encoder costs: conv stack forward, its backward, one dense head's forward. */
export interface EncoderRowFlops {
  readonly convFwd: number;
  readonly convBwd: number;
  readonly head: number;
}

/** FLOPs of matrix products and convs (2 x multiply-adds), in the conv stack and elsewhere. */
export interface AuxFlops {
  readonly conv: number;
  readonly dense: number;
}

/** Option values of one config by field name, as an implementation or a count reads them. */
export type AuxValues = { readonly [field: string]: unknown };

export interface AuxSize<V extends object> {
  readonly latentDim: number;
  readonly options: V;
}

/** State an objective keeps besides its parameters (key queues, memory banks), in bytes. */
export interface AuxStateBytes {
  /** Bytes for each replay slot (a memory bank's entry and its bookkeeping). */
  readonly perReplaySlot: number;
  /** Bytes independent of the replay (a queue of past keys). */
  readonly fixed: number;
}

export interface AuxStateSize<V extends object> extends AuxSize<V> {
  readonly replayCapacity: number;
}

export interface AuxCostInput<V extends object> extends AuxSize<V> {
  /** Batch size b: the rows the loss reads (view 0). */
  readonly batch: number;
  /** Rows each encoder pass runs over: M x b with DrQ's M obs views. */
  readonly rows: number;
  readonly row: EncoderRowFlops;
}

export interface AuxCreateContext<V extends object> extends AuxSize<V> {
  /** The descriptor's name (one implementation may serve several). */
  readonly name: string;
  /** The agent's parameters; the objective adds its own. */
  readonly params: ParamMap;
  /** The agent's init stream, right after the agent's own parameters were drawn from it. */
  readonly rng: Rng;
  /** The replay's capacity, when the config gives it (the memory bank keeps one slot per replay slot). */
  readonly replayCapacity?: number | undefined;
}

/** The tfjs side of an objective. */
export interface AuxImplementation<V extends object = AuxValues> {
  /** Adds the objective's parameters to `context.params` and returns it; null when it trains nothing (`none`). */
  create(context: AuxCreateContext<V>): AuxObjective | null;
}

export interface AuxDescriptor<O extends AuxOptionSet = AuxOptionSet> {
  /** The --aux value, and a checkpoint's `aux`. */
  readonly name: string;
  /** Shown after the name in --aux's help ('NT-Xent'). */
  readonly summary?: string;
  readonly options: O;
  /** The encoder passes the agent runs for it besides the critic's anchor pass. */
  readonly needs: AuxNeeds;
  /** Every metric name an update writes for it. */
  readonly metrics: readonly string[];
  /** Its place in the report's tables (lower first, ties by name) and its curves' colour. */
  readonly report: { readonly rank: number; readonly color: string };
  /** Float parameters it adds to the agent. */
  paramCount(size: AuxSize<AuxOptionValues<O>>): number;
  /** State it keeps besides parameters, for the memory check; absent: none worth counting. */
  stateBytes?(size: AuxStateSize<AuxOptionValues<O>>): AuxStateBytes;
  /** FLOPs it adds to one update, encoder passes included. */
  flops(cost: AuxCostInput<AuxOptionValues<O>>): AuxFlops;
  /** Imports the tfjs side (kept out of this module so that reading the descriptor loads no tfjs). */
  load(): Promise<AuxImplementation<AuxOptionValues<O>>>;
}

/** Types a descriptor, keeping its name as a literal (the config's `aux` type is the union of the built-in names). */
export function defineAuxObjective<const N extends string, O extends AuxOptionSet>(
  descriptor: AuxDescriptor<O> & { readonly name: N },
): AuxDescriptor<O> & { readonly name: N } {
  return descriptor;
}

/**
 * The encoder work the agent does for an objective with a loss (what
 * agents/curl-sac.ts runs for each `needs`), over `rows` rows:
 * - always the backward of the anchor pass through the critic's head and convs
 *   (its forward is the critic's): convBwd, and 2 x head (input and weight
 *   gradients of the head);
 * - targetPos, targetObs: the momentum encoder forward on that crop;
 * - onlinePos: the positive crop through the online encoder twice (a plain
 *   forward for the loss, then again kept as the anchor for its backward) and
 *   its backward.
 */
export function encoderFlops(needs: AuxNeeds, rows: number, row: EncoderRowFlops): AuxFlops {
  const forward = { conv: row.convFwd, dense: row.head };
  const backward = { conv: row.convBwd, dense: 2 * row.head };
  const perRow = [backward];
  if (needs.onlinePos) perRow.push(forward, forward, backward);
  if (needs.targetPos) perRow.push(forward);
  if (needs.targetObs) perRow.push(forward);
  return {
    conv: rows * perRow.reduce((sum, f) => sum + f.conv, 0),
    dense: rows * perRow.reduce((sum, f) => sum + f.dense, 0),
  };
}

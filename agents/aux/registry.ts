// The one list of auxiliary objectives. The config schema (--aux's values, the
// option fields and their help, the rule that an option needs an objective
// that reads it), the memory check's parameter count, bench update's FLOP
// count, the report's order and colours and the agent (index.ts) all read it:
// a new objective is its descriptor (descriptor.ts says what one holds) and
// one line in `builtins`. Loads no tfjs: each descriptor imports its tfjs side
// only when `load` is called.
import type { z } from 'zod';
import { AgentError } from '../types.js';
import { barlow } from './barlow.js';
import { byol } from './byol.js';
import { curl, curlDebiased, curlHard } from './curl.js';
import type { AuxDescriptor, AuxOption, AuxOptionSet, AuxOptionValues, DefaultedAuxOption, OptionalAuxOption } from './descriptor.js';
import { memoryBank } from './memory-bank.js';
import { mochi } from './mochi.js';
import { none } from './none.js';
import { simclr } from './simclr.js';
import { margin } from './margin.js';
import { triplet } from './triplet.js';
import { lifted } from './lifted.js';
import { nPair } from './n-pair.js';
import { nce } from './nce.js';
import { softNn } from './soft-nn.js';
import { swav } from './swav.js';

/** In the order --aux lists them. */
const builtins = [
  curl,
  none,
  simclr,
  byol,
  barlow,
  curlDebiased,
  curlHard,
  margin,
  triplet,
  lifted,
  nPair,
  nce,
  softNn,
  memoryBank,
  mochi,
  swav,
] as const;

type Builtin = (typeof builtins)[number];
export type BuiltinAuxName = Builtin['name'];
/** A built-in objective's name, or one registered with registerAuxObjective (a string the type cannot know). */
export type AuxName = BuiltinAuxName | (string & {});

const registered: AuxDescriptor[] = [];
/** Set by the first read: whatever read the list then (the schema, at its import) would never see a later entry. */
let sealed = false;

/** What each config field an objective reads looks like across the objectives that read it. */
interface SharedOption {
  readonly field: string;
  readonly option: AuxOption;
  /** The objectives that read it, in registry order, with their own default (optional fields may differ). */
  readonly readers: ReadonlyArray<{ readonly name: string; readonly default: unknown }>;
}

function sameOption(a: AuxOption, b: AuxOption): boolean {
  if (a.field !== b.field || a.kind !== b.kind || a.help !== b.help) return false;
  return a.kind === 'optional' || (b.kind === 'defaulted' && a.default === b.default && a.unreadReason === b.unreadReason);
}

function add(descriptor: AuxDescriptor): void {
  if (registered.some((d) => d.name === descriptor.name)) throw new Error(`aux objective '${descriptor.name}' is registered already`);
  for (const [field, option] of Object.entries(descriptor.options)) {
    const other = registered.find((d) => Object.hasOwn(d.options, field));
    if (other && !sameOption(other.options[field]!, option)) {
      throw new Error(
        `aux objective '${descriptor.name}' declares option ${field} unlike '${other.name}' does: objectives that share a config field share its ` +
          'definition (the same zod field, help and kind; for a field with a schema default, the same default)',
      );
    }
  }
  registered.push(descriptor);
}

for (const descriptor of builtins) add(descriptor);

/**
 * Adds an objective beside the built-in ones, before anything has read the
 * registry: the config schema builds its `aux` values and option fields from
 * it when it is imported. For tests and plug-ins; a built-in objective is a
 * line in `builtins`.
 */
export function registerAuxObjective(descriptor: AuxDescriptor): void {
  if (sealed) {
    throw new Error(
      `registerAuxObjective('${descriptor.name}'): the registry has been read already (the config schema reads it when it is imported), ` +
        'so the schema, help and limits would not know this objective; register it before anything imports them',
    );
  }
  add(descriptor);
}

export function auxObjectives(): readonly AuxDescriptor[] {
  sealed = true;
  return registered;
}

export function auxObjectiveNames(): readonly [AuxName, ...AuxName[]] {
  // never empty: the built-in objectives come first
  return auxObjectives().map((d) => d.name) as unknown as readonly [AuxName, ...AuxName[]];
}

export function auxObjective(name: string): AuxDescriptor {
  const descriptor = auxObjectives().find((d) => d.name === name);
  if (!descriptor) throw new AgentError(`aux '${name}' is not a registered objective; one of ${auxObjectiveNames().join(', ')}`);
  return descriptor;
}

/** Where the report puts an objective and how it colours it; undefined for a name no longer registered (an old run). */
export function auxReport(name: string): AuxDescriptor['report'] | undefined {
  return auxObjectives().find((d) => d.name === name)?.report;
}

function sharedOptions(): SharedOption[] {
  const byField = new Map<string, { option: AuxOption; readers: Array<{ name: string; default: unknown }> }>();
  for (const d of auxObjectives()) {
    for (const [field, option] of Object.entries(d.options)) {
      const entry = byField.get(field) ?? { option, readers: [] };
      entry.readers.push({ name: d.name, default: option.default });
      byField.set(field, entry);
    }
  }
  return [...byField].map(([field, { option, readers }]) => ({ field, option, readers }));
}

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
type BuiltinOptions = UnionToIntersection<Builtin['options']>;
type SchemaField<O> = O extends DefaultedAuxOption<infer Z> ? z.ZodDefault<Z> : O extends OptionalAuxOption<infer Z> ? z.ZodOptional<Z> : never;
/** The config fields of the objectives' options, typed from the built-in descriptors (a registered objective's own fields exist at run time only). */
export type AuxOptionFields = { [F in keyof BuiltinOptions]: SchemaField<BuiltinOptions[F]> };

/**
 * The options as config schema fields, each described for --help as
 * "<objectives that read it>: <help>", with the defaults of an optional field
 * (a schema default is shown by the help itself).
 */
export function auxOptionFields(): AuxOptionFields {
  const fields: Record<string, z.ZodTypeAny> = {};
  for (const { field, option, readers } of sharedOptions()) {
    const text = `${readers.map((r) => r.name).join(', ')}: ${option.help}`;
    if (option.kind === 'defaulted') {
      fields[field] = option.field.default(option.default).describe(text);
    } else {
      const defaults = readers.every((r) => r.default === readers[0]!.default)
        ? `${readers[0]!.default}`
        : readers.map((r) => `${r.default} for ${r.name}`).join(', ');
      fields[field] = option.field.optional().describe(`${text} (default ${defaults})`);
    }
  }
  return fields as AuxOptionFields;
}

/** An option set in a config whose objective does not read it, and who reads it. */
export type UnreadAuxOption = {
  readonly field: string;
  readonly value: unknown;
  readonly readers: readonly string[];
} & ({ readonly kind: 'optional' } | { readonly kind: 'defaulted'; readonly reason: string; readonly default: unknown });

/**
 * The one rule for options and objectives: an optional field given, or a
 * field with a schema default and an `unreadReason` set to another value, is
 * an error when the config's objective does not read it. The schema and the
 * agent each word the message for their reader.
 */
export function unreadAuxOptions(config: { readonly aux: string }): UnreadAuxOption[] {
  const values = config as Readonly<Record<string, unknown>>;
  const reading = auxObjective(config.aux);
  return sharedOptions().flatMap((shared): UnreadAuxOption[] => {
    const { field, option } = shared;
    const value = values[field];
    const readers = shared.readers.map((r) => r.name);
    if (Object.hasOwn(reading.options, field) || value === undefined) return [];
    if (option.kind === 'optional') return [{ kind: 'optional', field, value, readers }];
    if (option.unreadReason === undefined || value === option.default) return [];
    return [{ kind: 'defaulted', field, value, readers, reason: option.unreadReason, default: option.default }];
  });
}

/** The values an objective reads from a config: absent fields at the objective's defaults, each checked against its field. */
export function resolveAuxOptions<O extends AuxOptionSet>(descriptor: AuxDescriptor<O>, config: object): AuxOptionValues<O> {
  const values = config as Readonly<Record<string, unknown>>;
  const resolved: Record<string, unknown> = {};
  for (const [field, option] of Object.entries(descriptor.options)) {
    const given = values[field];
    const parsed = option.field.safeParse(given === undefined ? option.default : given);
    if (!parsed.success) {
      throw new AgentError(`${field} ${JSON.stringify(given)} is invalid for aux '${descriptor.name}': ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    }
    resolved[field] = parsed.data;
  }
  return resolved as AuxOptionValues<O>;
}

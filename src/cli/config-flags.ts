/*
 * Every config field becomes a kebab-case flag (`batchSize` -> `--batch-size`),
 * derived from the one schema so flags can never drift from the config.
 * Values are parsed here only as far as their type; ranges are the schema's job.
 */
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { configSchema, type Config } from '../config/schema.js';
import { describeAllowed, fieldType, kebab, type PartialConfig } from '../config/resolve.js';

type FieldKind = 'int' | 'number' | 'boolean' | 'string' | 'enum';

function fieldKind(field: keyof Config): FieldKind {
  const type = fieldType(field);
  if (type instanceof z.ZodNumber) return type.isInt ? 'int' : 'number';
  if (type instanceof z.ZodBoolean) return 'boolean';
  if (type instanceof z.ZodEnum) return 'enum';
  return 'string';
}

function description(field: keyof Config): string {
  const type: z.ZodTypeAny = configSchema.innerType().shape[field];
  const text = type.description;
  const fallback = type instanceof z.ZodDefault ? `; default ${JSON.stringify(type._def.defaultValue())}` : '';
  return text ? `${text} [${describeAllowed(field)}${fallback}]` : `[${describeAllowed(field)}${fallback}]`;
}

/** Whole numbers in decimal digits only: Number() would also take 0x10 (16), 1e3 and Infinity. */
const DECIMAL_INTEGER = /^[+-]?\d+$/;
/** A decimal number, optionally with an exponent (1e-4), but no hex, octal, binary or Infinity. */
const DECIMAL_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses a count given on the command line; the message says what was wrong
 * and what is expected. Only the digits themselves (and a sign): no spaces,
 * which a quoted " 3" would otherwise slip through.
 */
export function parseDecimalInteger(flag: string, raw: string, allowed: string): number {
  if (!DECIMAL_INTEGER.test(raw)) {
    throw new ConfigError(`${flag} = ${JSON.stringify(raw)} is not a whole number written in decimal digits (like 100000); allowed: ${allowed}`);
  }
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new ConfigError(`${flag} = ${JSON.stringify(raw)} is too large to count exactly; allowed: ${allowed}`);
  return value;
}

export interface CountRange {
  min: number;
  max: number;
  /** Why the largest value is what it is, where that is not obvious (a machine's memory or disk). */
  why?: string;
}

/** A count within [min, max], in decimal digits; any other value exits 2 with a message that names the flag and the range. */
export function parseCount(flag: string, raw: string, range: CountRange): number {
  const allowed = `an integer from ${range.min} to ${range.max}${range.why ? ` (${range.why})` : ''}`;
  const value = parseDecimalInteger(flag, raw, allowed);
  if (value < range.min || value > range.max) throw new ConfigError(`${flag} = ${raw} is out of range; allowed: ${allowed}`);
  return value;
}

/** The range the config schema allows an integer field (the one source of its limits). */
export function schemaRange(field: keyof Config): CountRange {
  const type = fieldType(field);
  const range: CountRange = { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
  if (!(type instanceof z.ZodNumber)) return range;
  for (const check of type._def.checks) {
    if (check.kind === 'min') range.min = check.inclusive ? check.value : check.value + 1;
    if (check.kind === 'max') range.max = check.inclusive ? check.value : check.value - 1;
  }
  return range;
}

function parseValue(field: keyof Config, raw: string): unknown {
  const kind = fieldKind(field);
  const flag = `--${kebab(field)}`;
  if (kind === 'int') return parseDecimalInteger(`${flag} (${field})`, raw, describeAllowed(field));
  if (kind === 'number') {
    const value = Number(raw);
    if (!DECIMAL_NUMBER.test(raw) || !Number.isFinite(value)) {
      throw new ConfigError(`${flag} (${field}) = ${JSON.stringify(raw)} is not a decimal number (like 0.001 or 1e-3); allowed: ${describeAllowed(field)}`);
    }
    return value;
  }
  if (kind === 'boolean') {
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new ConfigError(`${flag} (${field}) = ${JSON.stringify(raw)} is not a boolean; allowed: true or false`);
  }
  return raw;
}

export const configFields = Object.keys(configSchema.innerType().shape) as (keyof Config)[];

export function addConfigOptions(command: Command, options: { exclude?: readonly (keyof Config)[] } = {}): Command {
  for (const field of configFields) {
    if (options.exclude?.includes(field)) continue;
    const flag = `--${kebab(field)}`;
    if (fieldKind(field) === 'boolean') {
      command.addOption(new Option(`${flag} [bool]`, description(field)));
      command.addOption(new Option(`--no-${kebab(field)}`, `disable ${field}`).hideHelp());
    } else {
      command.addOption(new Option(`${flag} <value>`, description(field)));
    }
  }
  return command;
}

/** Config fields the user set on the command line, type-parsed (commander's camelCase keys match the schema). */
export function configFlags(opts: Record<string, unknown>): PartialConfig {
  const flags: PartialConfig = {};
  for (const field of configFields) {
    const raw = opts[field];
    if (raw === undefined) continue;
    flags[field] = typeof raw === 'string' ? parseValue(field, raw) : raw;
  }
  return flags;
}

/*
 * Every config field becomes a kebab-case flag (`batchSize` -> `--batch-size`),
 * derived from the one schema so flags can never drift from the config.
 * Values are parsed here only as far as their type; ranges are the schema's job.
 */
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { MAX_COUNT, configSchema, type Config } from '../config/schema.js';
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

/** Parses a count given on the command line; the message says what was wrong and what is expected. */
export function parseDecimalInteger(flag: string, raw: string, allowed: string): number {
  const text = raw.trim();
  if (!DECIMAL_INTEGER.test(text)) {
    throw new ConfigError(`${flag} = ${JSON.stringify(raw)} is not a whole number written in decimal digits (like 100000); allowed: ${allowed}`);
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new ConfigError(`${flag} = ${JSON.stringify(raw)} is too large to count exactly; allowed: ${allowed}`);
  return value;
}

/**
 * A count flag of a command beside train (a benchmark's --iters, a sweep's
 * --parallel): decimal digits only, within [min, max]; the message names the
 * flag and the range.
 */
export function parseCountFlag(flag: string, raw: string, min: number, max: number = MAX_COUNT): number {
  const allowed = max === MAX_COUNT ? `an integer >= ${min}` : `an integer >= ${min} and <= ${max}`;
  const value = parseDecimalInteger(flag, raw, allowed);
  if (value < min || value > max) throw new ConfigError(`${flag} = ${value} is out of range; allowed: ${allowed}`);
  return value;
}

/** A flag beside train that feeds config field `field` (a benchmark's --batch-size): the schema's range, so the two cannot drift apart. */
export function parseFieldCountFlag(flag: string, raw: string, field: keyof Config): number {
  const allowed = describeAllowed(field);
  const value = parseDecimalInteger(flag, raw, allowed);
  if (!fieldType(field).safeParse(value).success) throw new ConfigError(`${flag} = ${value} is out of range; allowed: ${allowed}`);
  return value;
}

function parseValue(field: keyof Config, raw: string): unknown {
  const kind = fieldKind(field);
  const flag = `--${kebab(field)}`;
  if (kind === 'int') return parseDecimalInteger(`${flag} (${field})`, raw, describeAllowed(field));
  if (kind === 'number') {
    const value = Number(raw.trim());
    if (!DECIMAL_NUMBER.test(raw.trim()) || !Number.isFinite(value)) {
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

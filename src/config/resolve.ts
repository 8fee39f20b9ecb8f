/*
 * Config resolution, lowest precedence first: schema defaults (the CURL
 * reference), the task preset experiments/presets/<env>.json when one exists,
 * an explicit --preset, then command-line flags.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { describeAugParts } from '../../replay/aug-spec.js';
import { pathSegmentProblem } from '../run/run-dir.js';
import { configSchema, type Config } from './schema.js';

export const presetsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'experiments', 'presets');

export type PartialConfig = Partial<Record<keyof Config, unknown>>;

export interface ResolveOptions {
  flags?: PartialConfig;
  preset?: string;
  /** Where task presets live; tests point it at a temp folder. */
  presetsDir?: string;
}

export interface ResolvedConfig {
  config: Config;
  /** Which layers contributed, for config.json and `curl-rl config`. */
  sources: string[];
}

export function kebab(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function readPresetFile(path: string): PartialConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read preset file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`Preset file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`Preset file ${path} must hold a JSON object of config fields, got ${JSON.stringify(parsed)}`);
  }
  const known = new Set(Object.keys(configSchema.innerType().shape));
  const unknown = Object.keys(parsed).filter((k) => !known.has(k) && !k.startsWith('$') && k !== 'description');
  if (unknown.length > 0) {
    throw new ConfigError(
      `Preset file ${path} has unknown field(s) ${unknown.map((k) => `'${k}'`).join(', ')}. ` +
        `Known fields: ${[...known].join(', ')}.`,
    );
  }
  const { description: _description, ...fields } = parsed as Record<string, unknown>;
  for (const key of Object.keys(fields)) if (key.startsWith('$')) delete fields[key];
  return fields as PartialConfig;
}

/** A preset name (experiments/presets/NAME.json) or a path to a JSON file. */
export function presetPath(preset: string, dir: string = presetsDir): string {
  if (preset.endsWith('.json') || preset.includes('/')) {
    const path = isAbsolute(preset) ? preset : resolve(preset);
    if (!existsSync(path)) throw new ConfigError(`Preset file ${path} does not exist.`);
    return path;
  }
  const path = join(dir, `${preset}.json`);
  if (!existsSync(path)) {
    throw new ConfigError(`Unknown preset '${preset}': no file ${path}. Pass a preset name from experiments/presets/ or a path to a JSON file.`);
  }
  return path;
}

/** A field's value type, without its default or optional wrapper. */
export function fieldType(field: keyof Config): z.ZodTypeAny {
  let type: z.ZodTypeAny = configSchema.innerType().shape[field];
  while (type instanceof z.ZodDefault || type instanceof z.ZodOptional) type = type._def.innerType;
  return type;
}

/** Describes what a field accepts, for error messages. */
export function describeAllowed(field: keyof Config): string {
  if (field === 'aug') return describeAugParts();
  const type = fieldType(field);
  if (type instanceof z.ZodEnum) return `one of ${(type.options as string[]).join(', ')}`;
  if (type instanceof z.ZodBoolean) return 'true or false';
  if (type instanceof z.ZodString) return 'a non-empty string';
  if (type instanceof z.ZodNumber) {
    const parts: string[] = [type.isInt ? 'an integer' : 'a number'];
    for (const check of type._def.checks) {
      if (check.kind === 'min') parts.push(`${check.inclusive ? '>=' : '>'} ${check.value}`);
      if (check.kind === 'max') parts.push(`${check.inclusive ? '<=' : '<'} ${check.value}`);
    }
    return parts.length > 2 ? `${parts[0]} ${parts.slice(1).join(' and ')}` : parts.join(' ');
  }
  return 'a valid value';
}

function valueAt(layers: PartialConfig, path: readonly PropertyKey[]): unknown {
  const key = path[0];
  return key === undefined ? undefined : (layers as Record<PropertyKey, unknown>)[key];
}

/** Validates a merged config, turning zod's issues into one message per field. */
export function validateConfig(merged: PartialConfig, origin: (field: string) => string = (f) => `--${kebab(f)}`): Config {
  const result = configSchema.safeParse(merged);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    }
    const field = String(issue.path[0] ?? '');
    const declared = configSchema.innerType().shape[field as keyof Config] as z.ZodTypeAny | undefined;
    // A default the user never set still has a value worth showing.
    const value = valueAt(merged, issue.path) ?? (declared instanceof z.ZodDefault ? declared._def.defaultValue() : undefined);
    const allowed = field in configSchema.innerType().shape ? describeAllowed(field as keyof Config) : '';
    const detail = issue.code === 'custom' ? issue.message : `${issue.message}; allowed: ${allowed}`;
    return `${origin(field)} (${field}) = ${JSON.stringify(value)} is invalid: ${detail}`;
  });
  throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
}

export function resolveConfig(options: ResolveOptions = {}): ResolvedConfig {
  const dir = options.presetsDir ?? presetsDir;
  const flags = options.flags ?? {};
  const explicit = options.preset ? readPresetFile(presetPath(options.preset, dir)) : {};
  const envId = (flags.env ?? explicit.env ?? configSchema.innerType().shape.env._def.defaultValue()) as string;
  // An env id names a file in the presets folder only as a plain name: "../x" must not read a JSON file elsewhere as a preset
  // (such an id is no registered env either, which train then says).
  const taskPresetFile = typeof envId === 'string' && pathSegmentProblem(envId) === null ? join(dir, `${envId}.json`) : undefined;
  const hasTaskPreset = taskPresetFile !== undefined && existsSync(taskPresetFile);
  const taskPreset = hasTaskPreset ? readPresetFile(taskPresetFile) : {};
  const sources = ['defaults'];
  if (hasTaskPreset) sources.push(taskPresetFile);
  if (options.preset) sources.push(presetPath(options.preset, dir));
  if (Object.keys(flags).length > 0) sources.push('flags');
  const merged: PartialConfig = { ...taskPreset, ...explicit, ...flags };
  const origin = (field: string): string =>
    field in flags ? `--${kebab(field)}` : field in explicit ? `preset field '${field}'` : field in taskPreset ? `task preset field '${field}'` : `the default --${kebab(field)}`;
  return { config: validateConfig(merged, origin), sources };
}

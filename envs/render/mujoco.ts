/*
 * The slice of the @mujoco/mujoco bindings the renderer reads. The package's
 * .d.ts types every array field as `any`; these helpers give them real types
 * and fail loudly when a field is missing, since a silent empty view would
 * render a blank image instead of an error.
 */
import type { MainModule, MjData, MjModel } from '@mujoco/mujoco';
import { RenderError } from './errors.js';

export type { MainModule as MujocoModule, MjData, MjModel };

type NumericArray = Float64Array | Float32Array | Int32Array | Uint8Array;

/**
 * Reads a numeric array field from a model or data object. The views point
 * into wasm memory and go stale when that memory grows, so callers read them
 * afresh on every render and never keep them across calls.
 */
export function field<T extends NumericArray>(
  obj: MjModel | MjData,
  name: string,
  ctor: new (...args: never[]) => T,
): T {
  const v: unknown = (obj as unknown as Record<string, unknown>)[name];
  if (!(v instanceof ctor)) {
    throw new RenderError(
      `MuJoCo field "${name}" is ${describe(v)}, expected ${ctor.name}; ` +
        'is this a @mujoco/mujoco 3.x MjModel/MjData?',
    );
  }
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return typeof v;
}

/** Reads the null-terminated name at `adr` from the model's names blob. */
export function nameAt(names: unknown, adr: number): string {
  if (typeof names === 'string') {
    const end = names.indexOf('\0', adr);
    return names.slice(adr, end < 0 ? undefined : end);
  }
  if (names instanceof Uint8Array || names instanceof Int8Array) {
    let end = adr;
    while (end < names.length && names[end] !== 0) end++;
    return Buffer.from(names.buffer, names.byteOffset + adr, end - adr).toString('utf8');
  }
  return '';
}

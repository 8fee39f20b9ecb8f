import type { BoxSpace } from './types.js';
import { InvalidActionError } from './errors.js';

function boundAt(bound: number | Float64Array, i: number): number {
  return typeof bound === 'number' ? bound : (bound[i] ?? NaN);
}

/**
 * Checks a continuous action against its Box space: it must be a Float32Array
 * (or plain number array) of the right length with finite elements. Values
 * outside the bounds are NOT an error: like dm_control (whose MuJoCo actuators
 * have ctrllimited), they are clipped. Returns the clipped copy as float64.
 */
export function validateBoxAction(envId: string, action: unknown, space: BoxSpace, out?: Float64Array): Float64Array {
  const n = space.shape.reduce((a, b) => a * b, 1);
  const range = (i: number): string => `[${boundAt(space.low, i)}, ${boundAt(space.high, i)}]`;
  if (!(action instanceof Float32Array || action instanceof Float64Array || Array.isArray(action))) {
    throw new InvalidActionError(
      `${envId}: action must be a Float32Array of length ${n} with values in ${range(0)}, got ${action === null ? 'null' : typeof action}`,
    );
  }
  if (action.length !== n) {
    throw new InvalidActionError(`${envId}: action has length ${action.length}, expected ${n} (each in ${range(0)})`);
  }
  const clipped = out ?? new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = action[i] as unknown;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new InvalidActionError(`${envId}: action[${i}] is ${String(v)}, expected a finite number in ${range(i)}`);
    }
    const lo = boundAt(space.low, i);
    const hi = boundAt(space.high, i);
    clipped[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return clipped;
}

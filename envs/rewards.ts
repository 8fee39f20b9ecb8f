/*
 * dm_control's `tolerance` reward shaping, reimplemented from its published
 * definition: 1 inside [lower, upper], decaying to `valueAtMargin` at distance
 * `margin` outside the bounds, with the decay shape chosen by `sigmoid`.
 */

export type Sigmoid =
  | 'gaussian'
  | 'hyperbolic'
  | 'long_tail'
  | 'reciprocal'
  | 'cosine'
  | 'linear'
  | 'quadratic'
  | 'tanh_squared';

export interface ToleranceOptions {
  bounds?: readonly [number, number];
  margin?: number;
  sigmoid?: Sigmoid;
  valueAtMargin?: number;
}

export const DEFAULT_VALUE_AT_MARGIN = 0.1;

/**
 * Maps a distance `x` >= 0 (in units of the margin) to (0, 1], with value 1 at
 * x = 0 and `valueAt1` at x = 1. The bounded-support shapes (cosine, linear,
 * quadratic) may reach 0 at the margin, the others only approach it.
 */
export function sigmoid(x: number, valueAt1: number, kind: Sigmoid): number {
  const boundedSupport = kind === 'cosine' || kind === 'linear' || kind === 'quadratic';
  if (boundedSupport ? !(valueAt1 >= 0 && valueAt1 < 1) : !(valueAt1 > 0 && valueAt1 < 1)) {
    throw new RangeError(
      `tolerance: valueAtMargin must be ${boundedSupport ? 'in [0, 1)' : 'strictly between 0 and 1'} for sigmoid '${kind}', got ${valueAt1}`,
    );
  }
  switch (kind) {
    case 'gaussian': {
      const scale = Math.sqrt(-2 * Math.log(valueAt1));
      return Math.exp(-0.5 * (x * scale) ** 2);
    }
    case 'hyperbolic': {
      const scale = Math.acosh(1 / valueAt1);
      return 1 / Math.cosh(x * scale);
    }
    case 'long_tail': {
      const scale = Math.sqrt(1 / valueAt1 - 1);
      return 1 / ((x * scale) ** 2 + 1);
    }
    case 'reciprocal': {
      const scale = 1 / valueAt1 - 1;
      return 1 / (Math.abs(x) * scale + 1);
    }
    case 'cosine': {
      const s = x * (Math.acos(2 * valueAt1 - 1) / Math.PI);
      return Math.abs(s) < 1 ? (1 + Math.cos(Math.PI * s)) / 2 : 0;
    }
    case 'linear': {
      const s = x * (1 - valueAt1);
      return Math.abs(s) < 1 ? 1 - s : 0;
    }
    case 'quadratic': {
      const s = x * Math.sqrt(1 - valueAt1);
      return Math.abs(s) < 1 ? 1 - s * s : 0;
    }
    case 'tanh_squared': {
      const scale = Math.atanh(Math.sqrt(1 - valueAt1));
      return 1 - Math.tanh(x * scale) ** 2;
    }
    default: {
      const never: never = kind;
      throw new RangeError(`tolerance: unknown sigmoid ${JSON.stringify(never)}`);
    }
  }
}

/** 1 when `x` lies in `bounds`; otherwise the sigmoid of (distance to the nearest bound) / margin. */
export function tolerance(x: number, options: ToleranceOptions = {}): number {
  const [lower, upper] = options.bounds ?? [0, 0];
  const margin = options.margin ?? 0;
  const kind = options.sigmoid ?? 'gaussian';
  const valueAtMargin = options.valueAtMargin ?? DEFAULT_VALUE_AT_MARGIN;
  if (!(lower <= upper)) throw new RangeError(`tolerance: bounds must satisfy lower <= upper, got [${lower}, ${upper}]`);
  if (!(margin >= 0)) throw new RangeError(`tolerance: margin must be >= 0, got ${margin}`);
  if (lower <= x && x <= upper) return 1;
  if (margin === 0) return 0;
  const d = (x < lower ? lower - x : x - upper) / margin;
  return sigmoid(d, valueAtMargin, kind);
}

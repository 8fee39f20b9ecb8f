/*
 * The Gymnasium-style environment contract every env and wrapper in this
 * project implements. Observations are typed arrays in HWC layout for pixels
 * (uint8) or flat float32 vectors for states; actions are Float32Array for Box
 * spaces and a plain integer for Discrete.
 */

export type DType = 'uint8' | 'float32' | 'float64' | 'int32';

export interface BoxSpace {
  readonly kind: 'box';
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** One bound per element (flattened), or a scalar applied to all elements. */
  readonly low: number | Float64Array;
  readonly high: number | Float64Array;
}

export interface DiscreteSpace {
  readonly kind: 'discrete';
  readonly n: number;
}

export type Space = BoxSpace | DiscreteSpace;

export type Observation = Uint8Array | Float32Array | Float64Array | Int32Array;
export type Action = Float32Array | number;

export type Info = Record<string, unknown>;

export interface ResetOptions {
  seed?: number;
  options?: Record<string, unknown>;
}

export interface ResetResult<O = Observation> {
  observation: O;
  info: Info;
}

export interface StepResult<O = Observation> {
  observation: O;
  reward: number;
  /** A true terminal state: the value of the next state is zero. */
  terminated: boolean;
  /** Cut off by a time limit: the next state still has a value (bootstrap). */
  truncated: boolean;
  info: Info;
}

/**
 * Sync and async envs share one contract: the loop always awaits, so a
 * built-in env may return plain values while a remote one returns promises.
 */
export interface Env<O = Observation, A = Action> {
  readonly id: string;
  readonly observationSpace: Space;
  readonly actionSpace: Space;
  reset(options?: ResetOptions): ResetResult<O> | Promise<ResetResult<O>>;
  step(action: A): StepResult<O> | Promise<StepResult<O>>;
  close(): void | Promise<void>;
}

export function boxSpace(
  shape: readonly number[],
  dtype: DType,
  low: number | Float64Array,
  high: number | Float64Array,
): BoxSpace {
  return { kind: 'box', shape: [...shape], dtype, low, high };
}

export function discreteSpace(n: number): DiscreteSpace {
  return { kind: 'discrete', n };
}

export function spaceSize(space: BoxSpace): number {
  return space.shape.reduce((a, b) => a * b, 1);
}

/**
 * Envs that can save and restore their exact state (physics, RNG, step
 * counters) let a run resume mid-episode with the same numbers as a run that
 * never stopped. The snapshot must survive a msgpack round trip.
 */
export interface SnapshotCapable {
  getSnapshot(): EnvSnapshot;
  restoreSnapshot(snapshot: EnvSnapshot): void;
}

export type EnvSnapshot = { readonly [key: string]: unknown };

export function isSnapshotCapable(env: unknown): env is SnapshotCapable {
  return (
    typeof env === 'object' &&
    env !== null &&
    typeof (env as Partial<SnapshotCapable>).getSnapshot === 'function' &&
    typeof (env as Partial<SnapshotCapable>).restoreSnapshot === 'function'
  );
}

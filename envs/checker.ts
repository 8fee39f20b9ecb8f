import { Rng } from '../src/core/rng.js';
import { EnvCheckError } from './errors.js';
import type { Action, BoxSpace, Env, Observation, Space } from './types.js';

export interface CheckEnvOptions {
  seed?: number;
  /** Random-action steps per rollout (two rollouts are compared). Default 20. */
  steps?: number;
}

const TYPED: Record<BoxSpace['dtype'], new (n: number) => Observation> = {
  uint8: Uint8Array,
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
};

function boundAt(b: number | Float64Array, i: number): number {
  return typeof b === 'number' ? b : (b[i] ?? NaN);
}

function checkSpace(name: string, space: Space | undefined, problems: string[]): void {
  if (!space || typeof space !== 'object') {
    problems.push(`${name} is missing`);
    return;
  }
  if (space.kind === 'discrete') {
    if (!Number.isInteger(space.n) || space.n < 1) problems.push(`${name}: Discrete n must be an integer >= 1, got ${space.n}`);
    return;
  }
  if (space.kind !== 'box') {
    problems.push(`${name}: unknown kind ${JSON.stringify((space as { kind: unknown }).kind)}`);
    return;
  }
  if (!Array.isArray(space.shape) || space.shape.some((d) => !Number.isInteger(d) || d < 1)) {
    problems.push(`${name}: shape must be positive integers, got ${JSON.stringify(space.shape)}`);
    return;
  }
  if (!(space.dtype in TYPED)) problems.push(`${name}: dtype ${JSON.stringify(space.dtype)} is not one of ${Object.keys(TYPED).join(', ')}`);
  const n = space.shape.reduce((a, b) => a * b, 1);
  for (const [label, b] of [['low', space.low], ['high', space.high]] as const) {
    if (typeof b !== 'number' && !(b instanceof Float64Array && b.length === n)) {
      problems.push(`${name}: ${label} must be a number or a Float64Array of length ${n}`);
      return;
    }
  }
  for (let i = 0; i < n; i++) {
    if (!(boundAt(space.low, i) <= boundAt(space.high, i))) {
      problems.push(`${name}: low[${i}] = ${boundAt(space.low, i)} > high[${i}] = ${boundAt(space.high, i)}`);
      return;
    }
  }
}

/** Every way an observation can disagree with its space; stops at the first bad element. */
function checkObservation(where: string, obs: unknown, space: Space, problems: string[]): void {
  if (space.kind !== 'box') {
    if (!Number.isInteger(obs) || (obs as number) < 0 || (obs as number) >= space.n) problems.push(`${where}: observation ${String(obs)} is not in Discrete(${space.n})`);
    return;
  }
  const ctor = TYPED[space.dtype];
  const n = space.shape.reduce((a, b) => a * b, 1);
  if (!(obs instanceof ctor)) {
    problems.push(`${where}: observation must be a ${ctor.name} (dtype ${space.dtype}), got ${(obs as object | null)?.constructor?.name ?? typeof obs}`);
    return;
  }
  if (obs.length !== n) {
    problems.push(`${where}: observation has ${obs.length} elements, space shape ${JSON.stringify(space.shape)} needs ${n}`);
    return;
  }
  for (let i = 0; i < n; i++) {
    const v = obs[i] as number;
    if (!(v >= boundAt(space.low, i) && v <= boundAt(space.high, i))) {
      problems.push(`${where}: observation[${i}] = ${v} is outside [${boundAt(space.low, i)}, ${boundAt(space.high, i)}]`);
      return;
    }
  }
}

function sampleAction(space: Space, rng: Rng): Action {
  if (space.kind === 'discrete') return rng.int(space.n);
  const n = space.shape.reduce((a, b) => a * b, 1);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const lo = Math.max(boundAt(space.low, i), -1e6);
    const hi = Math.min(boundAt(space.high, i), 1e6);
    a[i] = lo + (hi - lo) * rng.uniform();
  }
  return a;
}

function equal(a: unknown, b: unknown): boolean {
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = a as unknown as ArrayLike<number>;
    const y = b as unknown as ArrayLike<number>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  return a === b;
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * Gymnasium-style env checker: validates the spaces, that reset and step
 * return well-formed results matching the spaces, that the same seed and
 * actions reproduce the same observations and rewards, and that malformed
 * actions (wrong length, NaN) are rejected. Throws EnvCheckError listing every
 * problem found; leaves the env open.
 */
export async function checkEnv(env: Env, options: CheckEnvOptions = {}): Promise<void> {
  const seed = options.seed ?? 0;
  const steps = options.steps ?? 20;
  const problems: string[] = [];
  if (typeof env.id !== 'string' || env.id === '') problems.push('id must be a non-empty string');
  checkSpace('observationSpace', env.observationSpace, problems);
  checkSpace('actionSpace', env.actionSpace, problems);
  if (problems.length > 0) throw new EnvCheckError(String(env.id), problems);

  const rollout = async (): Promise<{ observations: unknown[]; rewards: number[] } | null> => {
    const rng = new Rng(seed);
    const observations: unknown[] = [];
    const rewards: number[] = [];
    try {
      const first = await env.reset({ seed });
      if (!first || typeof first !== 'object' || typeof first.info !== 'object' || first.info === null) {
        problems.push('reset() must return {observation, info} with an info object');
        return null;
      }
      checkObservation('reset()', first.observation, env.observationSpace, problems);
      observations.push(first.observation);
      for (let t = 0; t < steps; t++) {
        const r = await env.step(sampleAction(env.actionSpace, rng));
        const where = `step ${t}`;
        if (typeof r.reward !== 'number' || !Number.isFinite(r.reward)) problems.push(`${where}: reward must be a finite number, got ${String(r.reward)}`);
        if (typeof r.terminated !== 'boolean') problems.push(`${where}: terminated must be a boolean, got ${typeof r.terminated}`);
        if (typeof r.truncated !== 'boolean') problems.push(`${where}: truncated must be a boolean, got ${typeof r.truncated}`);
        if (typeof r.info !== 'object' || r.info === null) problems.push(`${where}: info must be an object`);
        checkObservation(where, r.observation, env.observationSpace, problems);
        observations.push(r.observation);
        rewards.push(r.reward);
        if (r.terminated || r.truncated) observations.push((await env.reset()).observation);
      }
    } catch (e) {
      problems.push(`reset/step with valid actions threw ${errorText(e)}`);
      return null;
    }
    return { observations, rewards };
  };

  const a = await rollout();
  const resetAgain = a ? await rollout() : null;
  if (a && resetAgain) {
    if (!equal(a.observations[0], resetAgain.observations[0])) problems.push(`reset({seed: ${seed}}) twice gave different first observations`);
    const i = a.observations.findIndex((o, k) => !equal(o, resetAgain.observations[k]));
    if (i > 0) problems.push(`same seed and actions gave different observations at step ${i - 1}`);
    const j = a.rewards.findIndex((r, k) => r !== resetAgain.rewards[k]);
    if (j >= 0) problems.push(`same seed and actions gave different rewards at step ${j}: ${a.rewards[j]} vs ${resetAgain.rewards[j]}`);
  }

  if (env.actionSpace.kind === 'box') {
    const n = env.actionSpace.shape.reduce((x, y) => x * y, 1);
    const bad: Array<[string, unknown]> = [
      [`an action of length ${n + 1}`, new Float32Array(n + 1)],
      ['an action containing NaN', new Float32Array(n).fill(Number.NaN)],
    ];
    for (const [label, action] of bad) {
      try {
        await env.reset({ seed });
        await env.step(action as Action);
        problems.push(`step() accepted ${label}; it must throw an error naming the problem`);
      } catch {
        // Expected.
      }
    }
  }
  if (problems.length > 0) throw new EnvCheckError(env.id, problems);
}

// A seeded random number generator whose full state can be saved in a
// checkpoint and restored, so a resumed run draws the same numbers as one
// that never stopped.
//
// src/core/ is the layer envs/, replay/, agents/ and src/ share: it imports
// nothing of ours (test/layering.test.ts), so any folder can use it without
// depending on the CLI, the loop or the config schema.
import seedrandom from 'seedrandom';

/** The generator's position in its stream (seedrandom's ARC4 state). */
export type RngState = seedrandom.State.Arc4;

export class Rng {
  private prng: seedrandom.StatefulPRNG<RngState>;
  private spareNormal: number | null = null;

  constructor(seed: number | string, state?: RngState) {
    this.prng = state
      ? seedrandom('', { state: { i: state.i, j: state.j, S: [...state.S] } })
      : seedrandom(String(seed), { state: true });
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.prng.double();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.prng.double() * n);
  }

  /** Uniform integer in [lo, hi] inclusive. */
  intBetween(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** Standard normal (Box-Muller; the spare value is part of the state). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.prng.double();
    const v = this.prng.double();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A 31-bit integer suitable for seeding another generator or tfjs op. */
  nextSeed(): number {
    return this.prng.int32() >>> 1;
  }

  getState(): { prng: RngState; spareNormal: number | null } {
    return { prng: this.prng.state(), spareNormal: this.spareNormal };
  }

  /**
   * Why `value` is not a state getState() could have returned, or null when
   * it is one: a checkpoint's state is checked before any of it is used.
   */
  static stateProblem(value: unknown): string | null {
    if (typeof value !== 'object' || value === null) return 'is not an object';
    const { prng, spareNormal } = value as Record<string, unknown>;
    if (spareNormal !== null && !(typeof spareNormal === 'number' && Number.isFinite(spareNormal))) return 'has a spareNormal that is neither a finite number nor null';
    if (typeof prng !== 'object' || prng === null) return 'has no prng state';
    const { i, j, S } = prng as Record<string, unknown>;
    const isByte = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 255;
    if (!isByte(i) || !isByte(j)) return 'has prng.i or prng.j outside the integers 0..255';
    // ARC4's S is always a permutation of 0..255
    if (!Array.isArray(S) || S.length !== 256 || !S.every(isByte) || new Set(S).size !== 256) return 'has a prng.S that is not a permutation of 0..255';
    return null;
  }

  static fromState(state: { prng: RngState; spareNormal: number | null }): Rng {
    const rng = new Rng(0, state.prng);
    rng.spareNormal = state.spareNormal;
    return rng;
  }
}

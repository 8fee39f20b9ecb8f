/*
 * Distribution checks with fixed seeds, so each is deterministic; the bounds are
 * about four standard errors (or the chi-square's 0.1% point) wide, so a correct
 * generator passes with room to spare and a biased one fails by far.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';

/** Pearson's chi-square of observed counts against equal expected counts. */
function chiSquare(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}

/** Standard normal CDF from erf (Abramowitz and Stegun 7.1.26, error below 1.5e-7). */
function phi(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

// chi-square 0.1% points (upper tail) for the degrees of freedom used below
const CHI2_999 = { 6: 22.46, 9: 27.88, 19: 43.82, 99: 148.23 } as const;

describe('Rng.int', () => {
  it('draws integers in [0, n) with every value equally likely (chi-square, fixed seed)', () => {
    for (const [n, df] of [[10, 9], [7, 6], [20, 19]] as const) {
      const rng = new Rng(11);
      const counts = new Array<number>(n).fill(0);
      const draws = 20_000 * n;
      for (let i = 0; i < draws; i++) {
        const k = rng.int(n);
        if (!Number.isInteger(k) || k < 0 || k >= n) throw new Error(`Rng.int(${n}) gave ${k}`);
        counts[k]! += 1;
      }
      expect(Math.min(...counts)).toBeGreaterThan(0);
      expect(chiSquare(counts)).toBeLessThan(CHI2_999[df]);
    }
  });

  it('successive draws are independent: pairs are uniform over the n x n grid', () => {
    const rng = new Rng(5);
    const counts = new Array<number>(100).fill(0);
    for (let i = 0; i < 200_000; i++) counts[10 * rng.int(10) + rng.int(10)]! += 1;
    expect(chiSquare(counts)).toBeLessThan(CHI2_999[99]);
  });

  it('n = 1 is always 0, intBetween includes both ends, and a bad n is a RangeError', () => {
    const rng = new Rng(2);
    for (let i = 0; i < 100; i++) expect(rng.int(1)).toBe(0);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(rng.intBetween(-2, 2));
    expect([...seen].sort((a, b) => a - b)).toEqual([-2, -1, 0, 1, 2]);
    for (const bad of [0, -3, 1.5, NaN]) expect(() => rng.int(bad)).toThrow(RangeError);
  });
});

describe('Rng.normal', () => {
  const N = 200_000;
  const samples = (seed: number): Float64Array => {
    const rng = new Rng(seed);
    return Float64Array.from({ length: N }, () => rng.normal());
  };

  it('has mean 0, variance 1, no skew and a normal kurtosis (fixed seed, bounds about 4 standard errors)', () => {
    const x = samples(17);
    const mean = x.reduce((a, b) => a + b, 0) / N;
    const m = (p: number): number => x.reduce((a, v) => a + (v - mean) ** p, 0) / N;
    const variance = m(2);
    // standard errors: mean 1/sqrt(N) = 0.0022, variance sqrt(2/N) = 0.0032, skew sqrt(6/N) = 0.0055, kurtosis sqrt(24/N) = 0.011
    expect(Math.abs(mean)).toBeLessThan(0.009);
    expect(Math.abs(variance - 1)).toBeLessThan(0.013);
    expect(Math.abs(m(3) / variance ** 1.5)).toBeLessThan(0.022);
    expect(Math.abs(m(4) / variance ** 2 - 3)).toBeLessThan(0.044);
  });

  it('follows the normal CDF: Phi(x) is uniform over 20 bins (chi-square), and the tails have their weight', () => {
    const x = samples(23);
    const counts = new Array<number>(20).fill(0);
    let beyond2 = 0;
    for (const v of x) {
      counts[Math.min(19, Math.floor(phi(v) * 20))]! += 1;
      if (Math.abs(v) > 2) beyond2++;
    }
    expect(chiSquare(counts)).toBeLessThan(CHI2_999[19]);
    // P(|Z| > 2) = 0.0455; binomial standard error at N = 200000 is 0.00047
    expect(Math.abs(beyond2 / N - 0.0455)).toBeLessThan(0.0019);
  });

  it('consecutive values (both halves of a Box-Muller pair) are uncorrelated', () => {
    const x = samples(29);
    for (const lag of [1, 2]) {
      let s = 0;
      for (let i = lag; i < N; i++) s += x[i]! * x[i - lag]!;
      expect(Math.abs(s / (N - lag))).toBeLessThan(0.009);
    }
  });

  it('is reproducible from a seed and from a saved state, the pending spare value included', () => {
    const a = new Rng(41);
    const b = new Rng(41);
    expect(Array.from({ length: 9 }, () => a.normal())).toEqual(Array.from({ length: 9 }, () => b.normal()));
    // an odd number drawn: the spare is pending, and must survive the round trip
    const saved = structuredClone(a.getState());
    expect(saved.spareNormal).not.toBeNull();
    const expected = [a.normal(), a.normal(), a.int(1000), a.uniform()];
    const restored = Rng.fromState(saved);
    expect([restored.normal(), restored.normal(), restored.int(1000), restored.uniform()]).toEqual(expected);
    expect(new Rng(42).normal()).not.toBe(new Rng(41).normal());
  });
});

import { describe, expect, it } from 'vitest';
import {
  aggregateCurves,
  alignCurves,
  bandHalfWidth,
  normalizeCurve,
  stat,
  tQuantile975,
  valueAtStep,
  type StepValue,
} from '../../experiments/report/aggregate.js';

const curve = (pairs: Array<[number, number]>): StepValue[] => pairs.map(([envStep, value]) => ({ envStep, value }));

describe('stat and bands', () => {
  it('computes mean and sample std by hand', () => {
    // mean 230; deviations -30, 0, 30 -> sum of squares 1800 / (3 - 1) = 900 -> std 30
    expect(stat([200, 230, 260])).toEqual({ mean: 230, std: 30, n: 3 });
    expect(stat([5])).toEqual({ mean: 5, std: 0, n: 1 });
    expect(stat([]).n).toBe(0);
  });

  it('uses std or a Student-t 95% interval as the band half-width', () => {
    const s = stat([200, 230, 260]);
    expect(bandHalfWidth(s, 'std')).toBe(30);
    expect(bandHalfWidth(s, 'ci95')).toBeCloseTo((4.303 * 30) / Math.sqrt(3), 10);
    expect(bandHalfWidth(stat([1]), 'ci95')).toBe(0);
    expect(tQuantile975(1)).toBe(12.706);
    expect(tQuantile975(30)).toBe(2.042);
    expect(tQuantile975(200)).toBe(1.96);
    expect(() => tQuantile975(0)).toThrow(RangeError);
  });
});

describe('curve alignment', () => {
  it('sorts a curve and keeps the last record at a repeated step', () => {
    expect(normalizeCurve(curve([[10, 1], [0, 0], [10, 2], [5, Number.NaN]]))).toEqual(curve([[0, 0], [10, 2]]));
  });

  it("'common' keeps the steps every seed has and counts the rest as dropped", () => {
    const aligned = alignCurves([curve([[0, 1], [10, 2], [20, 3]]), curve([[0, 4], [10, 5]]), curve([[0, 7], [5, 8], [10, 9]])]);
    expect(aligned.steps).toEqual([0, 10]);
    expect(aligned.values).toEqual([[1, 4, 7], [2, 5, 9]]);
    expect(aligned.dropped).toBe(2);
  });

  it("'interpolate' interpolates each seed on the union grid inside the range all cover", () => {
    const aligned = alignCurves([curve([[0, 0], [10, 10], [30, 50]]), curve([[0, 0], [5, 10], [20, 40]])], 'interpolate');
    expect(aligned.steps).toEqual([0, 5, 10, 20]);
    // seed 1 at 5: halfway 0..10 -> 5; at 20: halfway 10..30 -> 30. Seed 2 at 10: 10 + (40 - 10) * 5/15 = 20.
    expect(aligned.values).toEqual([[0, 0], [5, 10], [10, 20], [30, 40]]);
    expect(aligned.dropped).toBe(1);
  });

  it('aggregates known seeds into mean, std band and CI band', () => {
    const seeds = [
      curve([[0, 0], [50_000, 100], [100_000, 200]]),
      curve([[0, 10], [50_000, 110], [100_000, 230]]),
      curve([[0, 20], [50_000, 120], [100_000, 260]]),
    ];
    const { points } = aggregateCurves(seeds, { band: 'std' });
    expect(points.map((p) => [p.envStep, p.mean, p.std, p.lo, p.hi, p.n])).toEqual([
      [0, 10, 10, 0, 20, 3],
      [50_000, 110, 10, 100, 120, 3],
      [100_000, 230, 30, 200, 260, 3],
    ]);
    const ci = aggregateCurves(seeds, { band: 'ci95' }).points[2]!;
    const half = (4.303 * 30) / Math.sqrt(3);
    expect(ci.lo).toBeCloseTo(230 - half, 10);
    expect(ci.hi).toBeCloseTo(230 + half, 10);
  });
});

describe('valueAtStep', () => {
  const c = curve([[0, 1], [49_996, 2], [99_996, 3], [149_996, 4]]);
  it('takes the last eval at or before the target, within one action repeat', () => {
    expect(valueAtStep(c, 100_000, 4)).toBe(3);
    expect(valueAtStep(c, 50_000, 4)).toBe(2);
    expect(valueAtStep(c, 100_000, 0)).toBe(3);
  });
  it('is undefined when the run never got there', () => {
    expect(valueAtStep(c, 500_000, 4)).toBeUndefined();
    expect(valueAtStep(curve([[0, 1], [99_990, 2]]), 100_000, 4)).toBeUndefined();
    expect(valueAtStep([], 100_000)).toBeUndefined();
  });
});

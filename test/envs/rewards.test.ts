import { describe, expect, it } from 'vitest';
import { sigmoid, tolerance } from '../../envs/rewards.js';

describe('tolerance', () => {
  it('is 1 inside the bounds and 0 outside when margin is 0', () => {
    expect(tolerance(0.3, { bounds: [0, 0.5] })).toBe(1);
    expect(tolerance(0, { bounds: [0, 0] })).toBe(1);
    expect(tolerance(0.51, { bounds: [0, 0.5] })).toBe(0);
    expect(tolerance(-1e-9, { bounds: [0, 0.5] })).toBe(0);
  });

  it('gives valueAtMargin at exactly one margin outside, for every sigmoid', () => {
    for (const kind of ['gaussian', 'hyperbolic', 'long_tail', 'reciprocal', 'cosine', 'linear', 'quadratic', 'tanh_squared'] as const) {
      expect(tolerance(3, { bounds: [0, 1], margin: 2, sigmoid: kind, valueAtMargin: 0.3 }), kind).toBeCloseTo(0.3, 12);
      expect(tolerance(-2, { bounds: [0, 1], margin: 2, sigmoid: kind, valueAtMargin: 0.3 }), kind).toBeCloseTo(0.3, 12);
    }
  });

  it('matches hand-computed values at half a margin (value at margin 0.1)', () => {
    // gaussian: exp(-0.5 * (0.5 * sqrt(-2 ln 0.1))^2) = 0.1^(1/4)
    expect(tolerance(1.5, { bounds: [0, 1], margin: 1 })).toBeCloseTo(0.1 ** 0.25, 12);
    // linear: 1 - 0.5 * 0.9
    expect(tolerance(1.5, { bounds: [0, 1], margin: 1, sigmoid: 'linear' })).toBeCloseTo(0.55, 12);
    // quadratic: 1 - (0.5 * sqrt(0.9))^2 = 1 - 0.225
    expect(tolerance(1.5, { bounds: [0, 1], margin: 1, sigmoid: 'quadratic' })).toBeCloseTo(0.775, 12);
    // long_tail: 1 / (0.25 * 9 + 1)
    expect(tolerance(1.5, { bounds: [0, 1], margin: 1, sigmoid: 'long_tail' })).toBeCloseTo(1 / 3.25, 12);
    // reciprocal: 1 / (0.5 * 9 + 1)
    expect(tolerance(1.5, { bounds: [0, 1], margin: 1, sigmoid: 'reciprocal' })).toBeCloseTo(1 / 5.5, 12);
    // hyperbolic: 1 / cosh(0.5 * acosh(10))
    expect(tolerance(1.5, { bounds: [0, 1], margin: 1, sigmoid: 'hyperbolic' })).toBeCloseTo(1 / Math.cosh(0.5 * Math.acosh(10)), 12);
    // cosine: (1 + cos(pi * 0.5 * acos(-0.8) / pi)) / 2
    expect(tolerance(1.5, { bounds: [0, 1], margin: 1, sigmoid: 'cosine' })).toBeCloseTo((1 + Math.cos(0.5 * Math.acos(-0.8))) / 2, 12);
    // tanh_squared: 1 - tanh(0.5 * atanh(sqrt(0.9)))^2
    expect(tolerance(1.5, { bounds: [0, 1], margin: 1, sigmoid: 'tanh_squared' })).toBeCloseTo(1 - Math.tanh(0.5 * Math.atanh(Math.sqrt(0.9))) ** 2, 12);
  });

  it('reaches exactly 0 beyond the margin for the bounded sigmoids', () => {
    expect(tolerance(2.5, { bounds: [0, 1], margin: 1, sigmoid: 'linear', valueAtMargin: 0 })).toBe(0);
    expect(tolerance(2, { bounds: [0, 1], margin: 1, sigmoid: 'quadratic', valueAtMargin: 0 })).toBe(0);
    expect(tolerance(5, { bounds: [0, 1], margin: 1, sigmoid: 'cosine', valueAtMargin: 0 })).toBe(0);
  });

  it('handles infinite bounds like the cheetah and walker rewards', () => {
    // cheetah: linear, margin 10, value 0 at the margin: speed 5 -> 0.5, speed 12 -> 1.
    expect(tolerance(5, { bounds: [10, Infinity], margin: 10, sigmoid: 'linear', valueAtMargin: 0 })).toBeCloseTo(0.5, 12);
    expect(tolerance(12, { bounds: [10, Infinity], margin: 10, sigmoid: 'linear', valueAtMargin: 0 })).toBe(1);
    expect(tolerance(-3, { bounds: [10, Infinity], margin: 10, sigmoid: 'linear', valueAtMargin: 0 })).toBe(0);
  });

  it('rejects bad arguments with a message naming them', () => {
    expect(() => tolerance(0, { bounds: [1, 0] })).toThrow(/lower <= upper/);
    expect(() => tolerance(0, { margin: -1 })).toThrow(/margin/);
    expect(() => sigmoid(0.5, 0, 'gaussian')).toThrow(/strictly between 0 and 1/);
    expect(() => sigmoid(0.5, 1, 'linear')).toThrow(/\[0, 1\)/);
  });
});

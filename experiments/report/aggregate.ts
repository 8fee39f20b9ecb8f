/*
 * Aggregation of evaluation curves over seeds: alignment on common steps,
 * mean, sample standard deviation and a band (± std or a 95% t-interval).
 *
 * How mismatched steps are handled:
 * - 'common' (default): only env steps at which EVERY seed of the group has
 *   an evaluation are kept; the others are dropped and counted. Runs of one
 *   preset evaluate at the same steps, so this drops only the tail of runs
 *   that are further along than the slowest seed.
 * - 'interpolate': the grid is the union of all seeds' eval steps inside the
 *   range every seed covers (from the latest first eval to the earliest last
 *   eval); each seed's return is linearly interpolated between its own
 *   neighbouring evals. Nothing is extrapolated, so the curve again ends
 *   where the shortest seed ends.
 */

export interface StepValue {
  envStep: number;
  value: number;
}

export type BandKind = 'std' | 'ci95';
export type Alignment = 'common' | 'interpolate';

export interface Stat {
  mean: number;
  /** Sample standard deviation (n - 1); 0 for a single value. */
  std: number;
  n: number;
}

export interface CurvePoint extends Stat {
  envStep: number;
  lo: number;
  hi: number;
}

export interface AlignedCurves {
  steps: number[];
  /** values[k][s]: seed s at steps[k]. */
  values: number[][];
  /** Eval points of the input curves that are not on the aligned grid. */
  dropped: number;
}

/** Sorts by step and keeps the LAST record at a step: a resumed run may re-evaluate at the step it restarted from. */
export function normalizeCurve(points: readonly StepValue[]): StepValue[] {
  const byStep = new Map<number, number>();
  for (const p of points) {
    if (Number.isFinite(p.envStep) && Number.isFinite(p.value)) byStep.set(p.envStep, p.value);
  }
  return [...byStep.entries()].sort((a, b) => a[0] - b[0]).map(([envStep, value]) => ({ envStep, value }));
}

export function stat(values: readonly number[]): Stat {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN, n: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, std: 0, n };
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, std: Math.sqrt(ss / (n - 1)), n };
}

// Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
const t975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101,
  2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t_{0.975, df}; beyond 30 degrees of freedom the normal 1.96 (under 2% too narrow up to df 60). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`degrees of freedom must be a positive integer, got ${df}`);
  return t975[df - 1] ?? 1.96;
}

/** Half-width of the band: std, or the 95% confidence interval of the mean (0 with one seed: nothing to estimate). */
export function bandHalfWidth(s: Stat, kind: BandKind): number {
  if (s.n < 2) return 0;
  return kind === 'std' ? s.std : (tQuantile975(s.n - 1) * s.std) / Math.sqrt(s.n);
}

function interpolateAt(curve: readonly StepValue[], step: number): number {
  let i = 0;
  while (i < curve.length - 1 && curve[i + 1]!.envStep < step) i += 1;
  const a = curve[i]!;
  const b = curve[Math.min(i + 1, curve.length - 1)]!;
  if (a.envStep === step || b.envStep === a.envStep) return a.value;
  if (b.envStep === step) return b.value;
  return a.value + ((b.value - a.value) * (step - a.envStep)) / (b.envStep - a.envStep);
}

export function alignCurves(curves: readonly (readonly StepValue[])[], alignment: Alignment = 'common'): AlignedCurves {
  const normal = curves.map(normalizeCurve).filter((c) => c.length > 0);
  const total = normal.reduce((a, c) => a + c.length, 0);
  if (normal.length === 0) return { steps: [], values: [], dropped: total };
  let steps: number[];
  if (alignment === 'common') {
    const sets = normal.map((c) => new Set(c.map((p) => p.envStep)));
    steps = normal[0]!.map((p) => p.envStep).filter((s) => sets.every((set) => set.has(s)));
  } else {
    const lo = Math.max(...normal.map((c) => c[0]!.envStep));
    const hi = Math.min(...normal.map((c) => c[c.length - 1]!.envStep));
    steps = [...new Set(normal.flatMap((c) => c.map((p) => p.envStep)))].filter((s) => s >= lo && s <= hi).sort((a, b) => a - b);
  }
  const values = steps.map((step) =>
    normal.map((c) => (alignment === 'common' ? c.find((p) => p.envStep === step)!.value : interpolateAt(c, step))),
  );
  const onGrid = new Set(steps);
  const dropped = normal.reduce((a, c) => a + c.filter((p) => !onGrid.has(p.envStep)).length, 0);
  return { steps, values, dropped };
}

export function aggregateCurves(
  curves: readonly (readonly StepValue[])[],
  options: { alignment?: Alignment; band?: BandKind } = {},
): { points: CurvePoint[]; dropped: number } {
  const aligned = alignCurves(curves, options.alignment ?? 'common');
  const points = aligned.steps.map((envStep, k) => {
    const s = stat(aligned.values[k]!);
    const half = bandHalfWidth(s, options.band ?? 'std');
    return { envStep, ...s, lo: s.mean - half, hi: s.mean + half };
  });
  return { points, dropped: aligned.dropped };
}

/**
 * A seed's return at a target env step (e.g. 100k): its last evaluation at
 * or before target + tolerance, where the tolerance (one action repeat)
 * absorbs step counters that land just past a round number. Undefined when
 * the seed's evaluations never reached target - tolerance.
 */
export function valueAtStep(curve: readonly StepValue[], target: number, tolerance = 0): number | undefined {
  const normal = normalizeCurve(curve);
  const last = normal[normal.length - 1];
  if (last === undefined || last.envStep < target - tolerance) return undefined;
  let found: number | undefined;
  for (const p of normal) if (p.envStep <= target + tolerance) found = p.value;
  return found;
}

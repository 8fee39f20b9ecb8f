/*
 * How `npm start` ends: the run's evaluation returns drawn in the terminal
 * (asciichart), whether the last is clearly above the first, and how to
 * watch runs in TensorBoard.
 */
import asciichart from 'asciichart';

export interface EvalPoint {
  envStep: number;
  mean: number;
  std: number;
}

/** The final mean at least 1.5 times the first, and the two one-std intervals apart. */
export function clearlyAbove(first: Pick<EvalPoint, 'mean' | 'std'>, final: Pick<EvalPoint, 'mean' | 'std'>): boolean {
  return final.mean >= 1.5 * first.mean && final.mean - final.std > first.mean + first.std;
}

/**
 * The returns against env steps: asciichart draws one value per column, so
 * the points are joined by linear interpolation over `width` columns.
 */
export function evalChart(points: readonly EvalPoint[], options: { width?: number; height?: number } = {}): string {
  const width = options.width ?? 48;
  const first = points[0]!;
  const last = points[points.length - 1]!;
  const span = Math.max(1, last.envStep - first.envStep);
  const series = Array.from({ length: width }, (_, column) => {
    const step = first.envStep + (span * column) / (width - 1);
    const right = Math.max(1, points.findIndex((p) => p.envStep >= step));
    const a = points[right - 1]!;
    const b = points[right] ?? a;
    const t = b.envStep === a.envStep ? 0 : (step - a.envStep) / (b.envStep - a.envStep);
    return a.mean + t * (b.mean - a.mean);
  });
  const chart = asciichart.plot(series, { height: options.height ?? 8, format: (x) => x.toFixed(0).padStart(6) });
  // asciichart draws the first point on the axis column, the 8th of a row (a 6-character label, a space, the axis)
  const axis = `${' '.repeat(7)}env step ${first.envStep}${' '.repeat(Math.max(1, width - 9 - String(first.envStep).length - String(last.envStep).length))}${last.envStep}`;
  return `${chart}\n${axis}`;
}

/** The closing lines of `npm start`. */
export function startSummary(points: readonly EvalPoint[], logdir: string): string {
  const lines: string[] = [];
  if (points.length >= 2) {
    const first = points[0]!;
    const final = points[points.length - 1]!;
    lines.push('', `evaluation return (mean over each evaluation's episodes):`, '', evalChart(points), '');
    const change = `${first.mean.toFixed(1)} ± ${first.std.toFixed(1)} at env step ${first.envStep} -> ${final.mean.toFixed(1)} ± ${final.std.toFixed(1)} at ${final.envStep}`;
    lines.push(
      clearlyAbove(first, final)
        ? `the agent learned: ${change} (${(final.mean / Math.max(1e-9, first.mean)).toFixed(1)}x).`
        : `no clear learning in this run: ${change}. Longer runs learn more: see experiments/presets/README.md.`,
    );
  }
  lines.push(`watch runs as they train: tensorboard --logdir ${logdir}   (pip install tensorboard)`);
  return lines.join('\n');
}

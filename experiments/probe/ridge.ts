/*
 * Ridge regression from features to targets, in float64, with the penalty
 * chosen by cross-validation over groups (episodes: samples inside one are
 * correlated, so a fold holds whole episodes), and R^2 on held-out data.
 * Features and targets are standardised with the training rows' statistics,
 * so the intercept is the target mean and one penalty suits every target.
 */

/** Row-major [rows, cols]. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

export function matrix(rows: number, cols: number, data?: ArrayLike<number>): Matrix {
  if (data !== undefined && data.length !== rows * cols) throw new RangeError(`matrix: ${data.length} values for ${rows} x ${cols}`);
  return { rows, cols, data: data === undefined ? new Float64Array(rows * cols) : Float64Array.from(data) };
}

export function selectRows(m: Matrix, rows: readonly number[]): Matrix {
  const out = matrix(rows.length, m.cols);
  rows.forEach((r, i) => out.data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols));
  return out;
}

interface Standardiser {
  mean: Float64Array;
  /** 1 for a constant column (it then contributes zeros). */
  scale: Float64Array;
}

function standardiser(m: Matrix): Standardiser {
  const mean = new Float64Array(m.cols);
  const scale = new Float64Array(m.cols);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) mean[c]! += m.data[r * m.cols + c]! / m.rows;
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) scale[c]! += (m.data[r * m.cols + c]! - mean[c]!) ** 2 / m.rows;
  }
  for (let c = 0; c < m.cols; c++) scale[c] = scale[c]! > 1e-24 ? Math.sqrt(scale[c]!) : 1;
  return { mean, scale };
}

function standardise(m: Matrix, s: Standardiser): Matrix {
  const out = matrix(m.rows, m.cols);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) out.data[r * m.cols + c] = (m.data[r * m.cols + c]! - s.mean[c]!) / s.scale[c]!;
  }
  return out;
}

/** Solves the symmetric positive definite system A x = b for each column of B (Cholesky), in place of nothing. */
export function solveSpd(a: Matrix, b: Matrix): Matrix {
  const n = a.rows;
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a.data[i * n + j]!;
      for (let k = 0; k < j; k++) sum -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (!(sum > 0)) throw new RangeError('solveSpd: the matrix is not positive definite');
        l[i * n + i] = Math.sqrt(sum);
      } else {
        l[i * n + j] = sum / l[j * n + j]!;
      }
    }
  }
  const x = matrix(n, b.cols);
  const y = new Float64Array(n);
  for (let col = 0; col < b.cols; col++) {
    for (let i = 0; i < n; i++) {
      let sum = b.data[i * b.cols + col]!;
      for (let k = 0; k < i; k++) sum -= l[i * n + k]! * y[k]!;
      y[i] = sum / l[i * n + i]!;
    }
    for (let i = n - 1; i >= 0; i--) {
      let sum = y[i]!;
      for (let k = i + 1; k < n; k++) sum -= l[k * n + i]! * x.data[k * b.cols + col]!;
      x.data[i * b.cols + col] = sum / l[i * n + i]!;
    }
  }
  return x;
}

export interface RidgeModel {
  lambda: number;
  x: Standardiser;
  y: Standardiser;
  /** [features, targets], on standardised features and targets. */
  weights: Matrix;
}

/** Minimises ||Xs W - Ys||^2 + lambda ||W||^2 on the standardised training rows. */
export function fitRidge(x: Matrix, y: Matrix, lambda: number): RidgeModel {
  if (x.rows !== y.rows) throw new RangeError(`fitRidge: ${x.rows} feature rows but ${y.rows} target rows`);
  if (x.rows < 2) throw new RangeError('fitRidge: needs at least 2 rows');
  const xs = standardiser(x);
  const ys = standardiser(y);
  const xz = standardise(x, xs);
  const yz = standardise(y, ys);
  const d = x.cols;
  const gram = matrix(d, d);
  const rhs = matrix(d, y.cols);
  for (let r = 0; r < x.rows; r++) {
    for (let i = 0; i < d; i++) {
      const xi = xz.data[r * d + i]!;
      if (xi === 0) continue;
      for (let j = 0; j <= i; j++) gram.data[i * d + j]! += xi * xz.data[r * d + j]!;
      for (let t = 0; t < y.cols; t++) rhs.data[i * y.cols + t]! += xi * yz.data[r * y.cols + t]!;
    }
  }
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < i; j++) gram.data[j * d + i] = gram.data[i * d + j]!;
    gram.data[i * d + i]! += lambda;
  }
  return { lambda, x: xs, y: ys, weights: solveSpd(gram, rhs) };
}

export function predictRidge(model: RidgeModel, x: Matrix): Matrix {
  const xz = standardise(x, model.x);
  const t = model.weights.cols;
  const out = matrix(x.rows, t);
  for (let r = 0; r < x.rows; r++) {
    for (let k = 0; k < t; k++) {
      let sum = 0;
      for (let i = 0; i < x.cols; i++) sum += xz.data[r * x.cols + i]! * model.weights.data[i * t + k]!;
      out.data[r * t + k] = model.y.mean[k]! + model.y.scale[k]! * sum;
    }
  }
  return out;
}

/**
 * R^2 of each target column: 1 - SSE / SST, SST about the evaluated rows' own
 * mean (so predicting that mean scores 0 and worse predictions go negative).
 * A target constant over the rows (SST 0) gets NaN: nothing to explain.
 */
export function rSquared(truth: Matrix, predicted: Matrix): number[] {
  const out: number[] = [];
  for (let c = 0; c < truth.cols; c++) {
    let mean = 0;
    for (let r = 0; r < truth.rows; r++) mean += truth.data[r * truth.cols + c]! / truth.rows;
    let sse = 0;
    let sst = 0;
    for (let r = 0; r < truth.rows; r++) {
      const v = truth.data[r * truth.cols + c]!;
      sse += (v - predicted.data[r * truth.cols + c]!) ** 2;
      sst += (v - mean) ** 2;
    }
    out.push(sst > 1e-12 * truth.rows ? 1 - sse / sst : Number.NaN);
  }
  return out;
}

export const defaultLambdas: readonly number[] = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1e3, 1e4];

/**
 * The penalty with the smallest summed squared error (standardised targets)
 * over folds of whole groups, then a fit on all the rows with it. Groups are
 * dealt to `folds` folds in turn, so with one group per episode each fold
 * holds whole episodes.
 */
export function fitRidgeCv(x: Matrix, y: Matrix, groups: readonly number[], options: { lambdas?: readonly number[]; folds?: number } = {}): RidgeModel & { cvError: number[] } {
  const lambdas = options.lambdas ?? defaultLambdas;
  const distinct = [...new Set(groups)];
  const folds = Math.min(options.folds ?? 5, distinct.length);
  if (folds < 2) throw new RangeError(`fitRidgeCv: needs at least 2 groups (episodes) to cross-validate, got ${distinct.length}`);
  const foldOf = new Map(distinct.map((g, i) => [g, i % folds]));
  const cvError = lambdas.map(() => 0);
  for (let f = 0; f < folds; f++) {
    const train: number[] = [];
    const valid: number[] = [];
    groups.forEach((g, r) => (foldOf.get(g) === f ? valid : train).push(r));
    const xt = selectRows(x, train);
    const yt = selectRows(y, train);
    const xv = selectRows(x, valid);
    const yv = selectRows(y, valid);
    lambdas.forEach((lambda, i) => {
      const model = fitRidge(xt, yt, lambda);
      const p = predictRidge(model, xv);
      for (let k = 0; k < yv.data.length; k++) cvError[i]! += ((yv.data[k]! - p.data[k]!) / model.y.scale[k % y.cols]!) ** 2;
    });
  }
  let best = 0;
  cvError.forEach((e, i) => {
    if (e < cvError[best]!) best = i;
  });
  return { ...fitRidge(x, y, lambdas[best]!), cvError };
}

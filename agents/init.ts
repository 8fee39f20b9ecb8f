/*
 * Weight initialisation of the reference (CURL's `weight_init`): orthogonal
 * dense weights, delta-orthogonal convolutions, zero biases. Random draws come
 * from the agent's seeded Rng on the host, so a seed fixes the network (small
 * matrices bit for bit; large ones to float32 rounding, see orthogonalFast).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../src/core/rng.js';

/**
 * A rows x cols matrix (row-major) with orthonormal columns when rows >= cols,
 * orthonormal rows otherwise, times `gain` (as torch.nn.init.orthogonal_:
 * QR of a Gaussian matrix with the signs of R's diagonal folded into Q).
 */
export function orthogonal(rows: number, cols: number, rng: Rng, gain = 1): Float32Array {
  if (!(rows > 0 && cols > 0)) throw new RangeError(`orthogonal: shape must be positive, got ${rows}x${cols}`);
  const tall = rows >= cols;
  const n = tall ? rows : cols; // length of each orthonormal vector
  const k = tall ? cols : rows; // number of vectors
  // vectors stored contiguously so the Gram-Schmidt inner loops stream memory
  const q = new Float64Array(n * k);
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  for (let j = 0; j < k; j++) {
    const vj = j * n;
    // modified Gram-Schmidt in float64: one pass keeps a Gaussian matrix's
    // columns orthogonal to ~1e-13, far below float32 resolution
    for (let p = 0; p < j; p++) {
      const vp = p * n;
      let dot = 0;
      for (let i = 0; i < n; i++) dot += q[vp + i]! * q[vj + i]!;
      for (let i = 0; i < n; i++) q[vj + i]! -= dot * q[vp + i]!;
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += q[vj + i]! ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0) throw new Error('orthogonal: degenerate random matrix');
    // Gram-Schmidt's R has a positive diagonal, which is exactly the sign fix
    for (let i = 0; i < n; i++) q[vj + i]! /= norm;
  }
  const out = new Float32Array(rows * cols);
  for (let j = 0; j < k; j++) {
    for (let i = 0; i < n; i++) {
      const v = q[j * n + i]! * gain;
      if (tall) out[i * cols + j] = v;
      else out[j * cols + i] = v;
    }
  }
  return out;
}

/** Above this many multiply-adds (n * k^2) the host Gram-Schmidt takes seconds: use the device. */
const HOST_QR_LIMIT = 5e7;
const BLOCK = 64;

/**
 * orthogonal() for large matrices: the same Gaussian draws from the host Rng,
 * orthonormalised by block classical Gram-Schmidt with re-orthogonalisation
 * (CGS2) whose projections run as device matmuls; each block is finished by
 * the host's float64 modified Gram-Schmidt. Same distribution (R keeps a
 * positive diagonal); values agree with orthogonal() to float32 rounding
 * rather than bit for bit, so they may differ in the last bits between backends.
 */
export function orthogonalFast(rows: number, cols: number, rng: Rng, gain = 1): Float32Array {
  const tall = rows >= cols;
  const n = tall ? rows : cols;
  const k = tall ? cols : rows;
  if (n * k * k <= HOST_QR_LIMIT) return orthogonal(rows, cols, rng, gain);
  // vectors as the rows of a [k, n] matrix, drawn in the same order as orthogonal()
  const raw = new Float32Array(n * k);
  for (let i = 0; i < raw.length; i++) raw[i] = rng.normal();
  const done: Float32Array[] = [];
  let q: tf.Tensor2D | null = null; // accepted vectors, [j, n]
  let qt: tf.Tensor2D | null = null; // its transpose, [n, j]
  for (let s = 0; s < k; s += BLOCK) {
    const bs = Math.min(BLOCK, k - s);
    let block: Float32Array = raw.subarray(s * n, (s + bs) * n);
    if (q && qt) {
      const qq = q;
      const qqt = qt;
      const projected = tf.tidy(() => {
        let b = tf.tensor2d(block, [bs, n]);
        for (let pass = 0; pass < 2; pass++) b = tf.sub(b, tf.matMul(tf.matMul(b, qqt), qq));
        return b;
      });
      block = projected.dataSync() as Float32Array;
      projected.dispose();
    }
    // finish the block on the host: MGS within it, in float64
    const v = Float64Array.from(block);
    for (let j = 0; j < bs; j++) {
      const vj = j * n;
      for (let p = 0; p < j; p++) {
        const vp = p * n;
        let dot = 0;
        for (let i = 0; i < n; i++) dot += v[vp + i]! * v[vj + i]!;
        for (let i = 0; i < n; i++) v[vj + i]! -= dot * v[vp + i]!;
      }
      let norm = 0;
      for (let i = 0; i < n; i++) norm += v[vj + i]! ** 2;
      norm = Math.sqrt(norm);
      for (let i = 0; i < n; i++) v[vj + i]! /= norm;
    }
    const f = Float32Array.from(v);
    done.push(f);
    const added = tf.tensor2d(f, [bs, n]);
    const next: tf.Tensor2D = q ? tf.concat([q, added], 0) : added;
    if (q) {
      q.dispose();
      added.dispose();
    }
    qt?.dispose();
    q = next;
    qt = tf.transpose(next);
  }
  q?.dispose();
  qt?.dispose();
  const out = new Float32Array(rows * cols);
  done.forEach((blk, b) => {
    for (let jj = 0; jj < blk.length / n; jj++) {
      const j = b * BLOCK + jj;
      for (let i = 0; i < n; i++) {
        const val = blk[jj * n + i]! * gain;
        if (tall) out[i * cols + j] = val;
        else out[j * cols + i] = val;
      }
    }
  });
  return out;
}

/** PyTorch's calculate_gain('relu'). */
export const RELU_GAIN = Math.SQRT2;

/**
 * Delta-orthogonal init (Xiao et al. 2018) of an HWIO filter: zero except
 * the spatial centre tap, which is an orthogonal [in, out] matrix x gain.
 */
export function deltaOrthogonal(kh: number, kw: number, cin: number, cout: number, rng: Rng, gain = RELU_GAIN): Float32Array {
  if (kh !== kw || kh % 2 !== 1) throw new RangeError(`deltaOrthogonal: needs a square odd kernel, got ${kh}x${kw}`);
  // the reference draws orthogonal_ on the [out, in] slice; we store [in, out]
  const centre = orthogonal(cout, cin, rng, gain);
  const w = new Float32Array(kh * kw * cin * cout);
  const mid = (kh - 1) / 2;
  const base = (mid * kw + mid) * cin * cout;
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) w[base + i * cout + o] = centre[o * cin + i]!;
  }
  return w;
}

/** torch.rand-style uniform [0, 1) fill (the reference's init of CURL's W). */
export function uniform01(size: number, rng: Rng): Float32Array {
  const w = new Float32Array(size);
  for (let i = 0; i < size; i++) w[i] = rng.uniform();
  return w;
}

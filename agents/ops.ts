import * as tf from '@tensorflow/tfjs';

type GradFn = Parameters<typeof tf.customGrad>[0];

/**
 * Differentiable building blocks whose gradients avoid kernels that are
 * slow or missing on the wasm backend: matrix products never use the
 * transposeA/transposeB flags (an explicit transpose first is ~10x faster
 * on wasm), and convolution gradients are expressed as ordinary forward
 * convolutions (wasm has no Conv2DBackpropFilter kernel at all).
 */

/** a @ b, with a gradient built from explicitly transposed operands. */
export const matMul = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)];
    },
  };
}) as unknown as GradFn) as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/** x @ w + b; the bias add is fused into the matmul kernel. */
export const dense = tf.customGrad(((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b }),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [
        tf.matMul(dy as tf.Tensor2D, tf.transpose(sw)),
        tf.matMul(tf.transpose(sx), dy as tf.Tensor2D),
        tf.sum(dy, 0),
      ];
    },
  };
}) as unknown as GradFn) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/** relu(x @ w + b), all in one fused kernel; the mask comes from the output. */
export const denseRelu = tf.customGrad(((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  const y = tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b, activation: 'relu' });
  save([x, w, y]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw, sy] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const dz = tf.mul(dy, tf.step(sy)) as tf.Tensor2D;
      return [tf.matMul(dz, tf.transpose(sw)), tf.matMul(tf.transpose(sx), dz), tf.sum(dz, 0)];
    },
  };
}) as unknown as GradFn) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/** PyTorch's nn.LayerNorm default epsilon (the reference's encoder uses it). */
export const LAYER_NORM_EPS = 1e-5;

/** LayerNorm over the last axis of [N, D] with elementwise affine. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    const xhat = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LAYER_NORM_EPS)));
    return tf.add(tf.mul(xhat, gamma), beta) as tf.Tensor2D;
  });
}

/**
 * Insert (s - 1) zeros between neighbouring rows and columns of an NHWC
 * tensor: the adjoint of striding.
 */
export function dilateSpatial(g: tf.Tensor4D, s: number): tf.Tensor4D {
  if (s === 1) return g;
  return tf.tidy(() => {
    const [n, h, w, c] = g.shape;
    const expanded = tf.reshape(g, [n, h, 1, w, 1, c]);
    const padded = tf.pad(expanded, [[0, 0], [0, 0], [0, s - 1], [0, 0], [0, s - 1], [0, 0]]);
    const flat = tf.reshape(padded, [n, h * s, w * s, c]);
    return tf.slice(flat, [0, 0, 0, 0], [n, (h - 1) * s + 1, (w - 1) * s + 1, c]) as tf.Tensor4D;
  });
}

/**
 * Gradient of a VALID convolution y = conv(x, w, stride) with respect to x,
 * as a forward convolution: the (dilated for stride > 1) output gradient,
 * zero-padded by k - 1, convolved with the spatially flipped filter whose
 * in/out channel axes are swapped. `inHeight/inWidth` recover rows/cols the
 * strided forward pass never read (their gradient is zero).
 */
export function conv2dInputGrad(
  dy: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number,
  inHeight: number,
  inWidth: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = w.shape;
    const wFlip = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    const d = dilateSpatial(dy, stride);
    const extraH = inHeight - (d.shape[1] + kh - 1);
    const extraW = inWidth - (d.shape[2] + kw - 1);
    if (extraH < 0 || extraW < 0) {
      throw new RangeError(`conv2dInputGrad: input ${inHeight}x${inWidth} is too small for output grad ${dy.shape[1]}x${dy.shape[2]} at stride ${stride}`);
    }
    const padded = tf.pad(d, [[0, 0], [kh - 1, kh - 1 + extraH], [kw - 1, kw - 1 + extraW], [0, 0]]);
    return tf.conv2d(padded, wFlip, 1, 'valid');
  });
}

/**
 * Gradient of y = conv(x, w, stride, VALID) with respect to w, as ONE forward
 * convolution: the batch axis becomes the channel axis (x^T: [Cin, H, W, N],
 * dy^T: [Ho, Wo, N, Cout]) and the stride becomes the dilation of the
 * dy "filter"; the result [Cin, kh', kw', Cout] is cropped to the kernel size.
 */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, stride: number, kh: number, kw: number): tf.Tensor4D {
  return tf.tidy(() => conv2dFilterGradT(transposeForFilterGrad(x), dy, stride, kh, kw));
}

/** x^T as conv2dFilterGradT wants it: [Cin, H, W, N]. Worth caching when one input meets several output gradients. */
export function transposeForFilterGrad(x: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D;
}

/** conv2dFilterGrad from an already transposed input xt = transposeForFilterGrad(x). */
export function conv2dFilterGradT(xt: tf.Tensor4D, dy: tf.Tensor4D, stride: number, kh: number, kw: number): tf.Tensor4D {
  return tf.tidy(() => {
    const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
    let r = tf.conv2d(xt, dyt, 1, 'valid', 'NHWC', stride);
    if (r.shape[1] !== kh || r.shape[2] !== kw) r = tf.slice(r, [0, 0, 0, 0], [r.shape[0], kh, kw, r.shape[3]]);
    return tf.transpose(r, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * Sum of an NHWC tensor over N, H and W. A ones-vector matmul: wasm's Sum over
 * leading axes transposes first and is ~20x slower.
 */
export function sumToChannels(d: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => {
    const c = d.shape[3];
    const m = d.size / c;
    return tf.reshape(tf.matMul(tf.ones([1, m]) as tf.Tensor2D, tf.reshape(d, [m, c]) as tf.Tensor2D), [c]) as tf.Tensor1D;
  });
}

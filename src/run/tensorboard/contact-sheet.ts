/*
 * An episode's frames as one image: `count` frames picked evenly from first
 * to last, laid out left to right, top to bottom, `columns` a row, with a
 * `gap`-pixel black border between and around them. TensorBoard shows one
 * image per step, so the evaluation's video becomes one strip per evaluation.
 */

export interface Sheet {
  rgb: Uint8Array;
  width: number;
  height: number;
  /** Which of the input frames the sheet shows, in order. */
  picked: number[];
}

/** `count` indices spread evenly over 0..n-1, first and last included (all of them when n <= count). */
export function evenIndices(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  if (count === 1) return [0];
  return Array.from({ length: count }, (_, i) => Math.round((i * (n - 1)) / (count - 1)));
}

/** Frames are size x size x 3 (HWC RGB). */
export function contactSheet(frames: readonly Uint8Array[], size: number, options: { count?: number; columns?: number; gap?: number } = {}): Sheet {
  const picked = evenIndices(frames.length, options.count ?? 16);
  const columns = Math.min(options.columns ?? 8, picked.length);
  const rows = Math.ceil(picked.length / columns);
  const gap = options.gap ?? 2;
  const width = columns * size + (columns + 1) * gap;
  const height = rows * size + (rows + 1) * gap;
  const rgb = new Uint8Array(width * height * 3);
  picked.forEach((frameIndex, k) => {
    const frame = frames[frameIndex]!;
    const x0 = gap + (k % columns) * (size + gap);
    const y0 = gap + Math.floor(k / columns) * (size + gap);
    for (let y = 0; y < size; y++) {
      rgb.set(frame.subarray(y * size * 3, (y + 1) * size * 3), ((y0 + y) * width + x0) * 3);
    }
  });
  return { rgb, width, height, picked };
}

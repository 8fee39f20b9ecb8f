import gifenc from 'gifenc';
import { writeFileAtomic } from './fs-atomic.js';

/** RGB (HWC, 3 channels) to RGBA, the layout gifenc quantises. */
function rgbToRgba(rgb: Uint8Array): Uint8Array {
  const pixels = rgb.length / 3;
  const rgba = new Uint8Array(pixels * 4);
  for (let p = 0; p < pixels; p++) {
    rgba[4 * p] = rgb[3 * p]!;
    rgba[4 * p + 1] = rgb[3 * p + 1]!;
    rgba[4 * p + 2] = rgb[3 * p + 2]!;
    rgba[4 * p + 3] = 255;
  }
  return rgba;
}

/**
 * Encodes RGB frames as an animated GIF. One palette is fitted to a sample of
 * the frames so colours do not flicker between frames.
 */
export function encodeGif(frames: readonly Uint8Array[], width: number, height: number, fps = 25): Uint8Array {
  if (frames.length === 0) throw new Error('encodeGif: no frames to encode');
  for (const [i, frame] of frames.entries()) {
    if (frame.length !== width * height * 3) {
      throw new Error(`encodeGif: frame ${i} has ${frame.length} bytes, expected ${width}x${height}x3 = ${width * height * 3}`);
    }
  }
  const { GIFEncoder, quantize, applyPalette } = gifenc;
  const stride = Math.max(1, Math.floor(frames.length / 16));
  const sample = frames.filter((_, i) => i % stride === 0);
  const sampleRgba = new Uint8Array(sample.length * width * height * 4);
  sample.forEach((frame, i) => sampleRgba.set(rgbToRgba(frame), i * width * height * 4));
  const palette = quantize(sampleRgba, 256);
  const gif = GIFEncoder();
  const delay = Math.round(1000 / fps);
  for (const frame of frames) gif.writeFrame(applyPalette(rgbToRgba(frame), palette), width, height, { palette, delay });
  gif.finish();
  return gif.bytes();
}

export function writeGif(path: string, frames: readonly Uint8Array[], width: number, height: number, fps = 25): void {
  writeFileAtomic(path, encodeGif(frames, width, height, fps));
}

import { writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { EnvError } from './errors.js';

/** Encodes one HWC RGB uint8 frame as PNG bytes. */
export function encodePng(rgb: Uint8Array, width: number, height: number): Buffer {
  if (rgb.length !== width * height * 3) {
    throw new EnvError(`encodePng: frame has ${rgb.length} bytes, expected ${width}x${height}x3 = ${width * height * 3}`);
  }
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

export function writePng(path: string, rgb: Uint8Array, width: number, height: number): void {
  writeFileSync(path, encodePng(rgb, width, height));
}

/** Decodes PNG bytes to HWC RGB (alpha dropped), for tests and tools. */
export function decodePng(bytes: Buffer): { width: number; height: number; rgb: Uint8Array } {
  const png = PNG.sync.read(bytes);
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let p = 0; p < png.width * png.height; p++) {
    rgb[3 * p] = png.data[4 * p] as number;
    rgb[3 * p + 1] = png.data[4 * p + 1] as number;
    rgb[3 * p + 2] = png.data[4 * p + 2] as number;
  }
  return { width: png.width, height: png.height, rgb };
}

type GifApi = {
  GIFEncoder(): { writeFrame(index: Uint8Array, w: number, h: number, o: { palette: number[][]; delay: number }): void; finish(): void; bytes(): Uint8Array };
  quantize(rgba: Uint8Array, maxColors: number): number[][];
  applyPalette(rgba: Uint8Array, palette: number[][]): Uint8Array;
};

/**
 * gifenc is CommonJS for Node but its "module" build (which Vite and vitest
 * pick) has only GIFEncoder as the default export, so take the API from
 * whichever shape loaded.
 */
async function gifApi(): Promise<GifApi> {
  const mod = (await import('gifenc')) as unknown as Record<string, unknown>;
  const api = (typeof mod['quantize'] === 'function' ? mod : mod['default']) as GifApi | undefined;
  if (!api || typeof api.quantize !== 'function') throw new EnvError('gifenc did not load: quantize() not found');
  return api;
}

function rgba(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array((rgb.length / 3) * 4);
  for (let p = 0, q = 0; p < rgb.length; p += 3, q += 4) {
    out[q] = rgb[p] as number;
    out[q + 1] = rgb[p + 1] as number;
    out[q + 2] = rgb[p + 2] as number;
    out[q + 3] = 255;
  }
  return out;
}

/** Animated GIF of HWC RGB frames with one palette fitted to a sample of them (no colour flicker). */
export async function encodeGif(frames: readonly Uint8Array[], width: number, height: number, fps = 25): Promise<Uint8Array> {
  if (frames.length === 0) throw new EnvError('encodeGif: no frames');
  frames.forEach((f, i) => {
    if (f.length !== width * height * 3) throw new EnvError(`encodeGif: frame ${i} has ${f.length} bytes, expected ${width}x${height}x3`);
  });
  const { GIFEncoder, quantize, applyPalette } = await gifApi();
  const stride = Math.max(1, Math.floor(frames.length / 16));
  const sample = frames.filter((_, i) => i % stride === 0);
  const pooled = new Uint8Array(sample.length * width * height * 4);
  sample.forEach((f, i) => pooled.set(rgba(f), i * width * height * 4));
  const palette = quantize(pooled, 256);
  const gif = GIFEncoder();
  for (const f of frames) gif.writeFrame(applyPalette(rgba(f), palette), width, height, { palette, delay: Math.round(1000 / fps) });
  gif.finish();
  return gif.bytes();
}

export async function writeGif(path: string, frames: readonly Uint8Array[], width: number, height: number, fps = 25): Promise<void> {
  writeFileSync(path, await encodeGif(frames, width, height, fps));
}

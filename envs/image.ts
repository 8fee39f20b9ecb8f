import { closeSync, existsSync, openSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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

type GifEncoder = {
  writeHeader(): void;
  writeFrame(index: Uint8Array, w: number, h: number, o: { palette?: number[][]; delay: number; first?: boolean; repeat?: number }): void;
  finish(): void;
  bytesView(): Uint8Array;
  reset(): void;
};
type GifApi = {
  GIFEncoder(options?: { auto?: boolean }): GifEncoder;
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

/** Frames a GifFileWriter keeps to fit its palette to: what it holds in memory at most. */
export const GIF_PALETTE_FRAMES = 16;

/**
 * The most bytes one W x H frame can add to a GIF: LZW codes are at most 12
 * bits a pixel (1.5 bytes, with no compression at all), clear codes add one
 * code per 4,096, data sub-blocks one length byte per 255, and the frame's
 * control extension, descriptor and terminators 20 bytes.
 */
export function gifFrameBytesAtMost(width: number, height: number): number {
  return Math.ceil(width * height * 1.5 * (1 + 1 / 4096) * (1 + 1 / 255)) + 32;
}

/** Header, screen descriptor, a 256-colour table, the loop extension and the trailer. */
export const GIF_FIXED_BYTES = 6 + 7 + 768 + 19 + 1;

/**
 * An animated GIF of HWC RGB frames written to a file as they come, so a long
 * animation never sits in memory: one palette (no colour flicker) fitted to
 * the first GIF_PALETTE_FRAMES frames, which are held until it is, then each
 * frame encoded and written at once. The file is written beside its name and
 * renamed into place by close(), so a failure never leaves half a GIF where
 * the finished one belongs; open() fails at once where the file cannot be
 * written.
 */
export class GifFileWriter {
  private readonly encoder: GifEncoder;
  private palette: number[][] | null = null;
  private held: Uint8Array[] = [];
  private written = 0;
  private fd: number | null;
  private readonly delay: number;

  private constructor(
    private readonly api: GifApi,
    readonly path: string,
    private readonly tmp: string,
    fd: number,
    readonly width: number,
    readonly height: number,
    fps: number,
  ) {
    this.fd = fd;
    this.delay = Math.round(1000 / fps);
    this.encoder = api.GIFEncoder({ auto: false });
  }

  static async open(path: string, width: number, height: number, fps = 25): Promise<GifFileWriter> {
    const api = await gifApi();
    if (existsSync(path) && statSync(path).isDirectory()) throw new EnvError(`${path} is a directory`);
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
    return new GifFileWriter(api, path, tmp, openSync(tmp, 'w'), width, height, fps);
  }

  /** Frames given so far. */
  get frames(): number {
    return this.written + this.held.length;
  }

  add(frame: Uint8Array): void {
    if (this.fd === null) throw new EnvError(`GifFileWriter: ${this.path} is closed`);
    if (frame.length !== this.width * this.height * 3) {
      throw new EnvError(`GifFileWriter: frame ${this.frames} has ${frame.length} bytes, expected ${this.width}x${this.height}x3`);
    }
    if (this.palette) this.encode(frame);
    else {
      this.held.push(frame.slice());
      if (this.held.length === GIF_PALETTE_FRAMES) this.flushHeld();
    }
  }

  /** Finishes the file and renames it into place; returns the number of frames. */
  close(): number {
    if (this.fd === null) throw new EnvError(`GifFileWriter: ${this.path} is closed`);
    if (this.frames === 0) throw new EnvError(`GifFileWriter: no frames for ${this.path}`);
    this.flushHeld();
    this.encoder.finish();
    this.drain();
    closeSync(this.fd);
    this.fd = null;
    renameSync(this.tmp, this.path);
    return this.written;
  }

  /** Gives up: closes and removes the unfinished file (nothing is left at `path`). */
  abort(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
    rmSync(this.tmp, { force: true });
  }

  private flushHeld(): void {
    if (this.palette || this.held.length === 0) return;
    const size = this.width * this.height * 4;
    const pooled = new Uint8Array(this.held.length * size);
    this.held.forEach((f, i) => pooled.set(rgba(f), i * size));
    this.palette = this.api.quantize(pooled, 256);
    this.encoder.writeHeader();
    const held = this.held;
    this.held = [];
    for (const f of held) this.encode(f);
  }

  private encode(frame: Uint8Array): void {
    const first = this.written === 0;
    // the first frame carries the global palette (and the loop extension); the others use it
    this.encoder.writeFrame(this.api.applyPalette(rgba(frame), this.palette!), this.width, this.height, {
      delay: this.delay,
      ...(first ? { palette: this.palette!, first: true, repeat: 0 } : {}),
    });
    this.written += 1;
    this.drain();
  }

  /** Moves what the encoder has produced to the file and empties its buffer. */
  private drain(): void {
    const bytes = this.encoder.bytesView();
    for (let done = 0; done < bytes.byteLength; ) done += writeSync(this.fd!, bytes, done, bytes.byteLength - done);
    this.encoder.reset();
  }
}

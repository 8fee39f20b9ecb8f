// gifenc ships no type declarations; these cover the part of its API we use.
// It is CommonJS, so Node's ESM loader exposes it as a default export only.
declare module 'gifenc' {
  type Palette = number[][];
  interface GifEncoder {
    writeHeader(): void;
    writeFrame(
      index: Uint8Array,
      width: number,
      height: number,
      options?: { palette?: Palette; delay?: number; repeat?: number; transparent?: boolean; first?: boolean },
    ): void;
    finish(): void;
    bytes(): Uint8Array;
    /** The bytes encoded since the last reset(), without a copy. */
    bytesView(): Uint8Array;
    /** Empties the output buffer (with { auto: false }, the header is written only by writeHeader()). */
    reset(): void;
  }
  const gifenc: {
    GIFEncoder(options?: { auto?: boolean }): GifEncoder;
    quantize(rgba: Uint8Array | Uint8ClampedArray, maxColors: number, options?: { format?: 'rgb565' | 'rgb444' | 'rgba4444' }): Palette;
    applyPalette(rgba: Uint8Array | Uint8ClampedArray, palette: Palette, format?: 'rgb565' | 'rgb444' | 'rgba4444'): Uint8Array;
  };
  export default gifenc;
}

// asciichart ships no type declarations; these cover the part of its API we use.
// It is CommonJS, so Node's ESM loader exposes it as a default export only.
declare module 'asciichart' {
  interface PlotConfig {
    height?: number;
    min?: number;
    max?: number;
    offset?: number;
    padding?: string;
    format?: (value: number, index: number) => string;
  }
  const asciichart: { plot(series: number[] | number[][], config?: PlotConfig): string };
  export default asciichart;
}

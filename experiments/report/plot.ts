/*
 * Learning curves as Vega-Lite: one panel per task, one colour per variant,
 * a line for the mean over seeds and a shaded band, and the CURL paper's
 * 100k result as a diamond with its standard deviation where it has one. Rendered headless (vega
 * View with renderer 'none' -> SVG string), then SVG -> PNG with resvg, so no
 * browser or canvas package is needed.
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { auxReport } from '../../agents/aux/registry.js';
import type { BandKind, CurvePoint } from './aggregate.js';
import type { PublishedScores } from './paper.js';

export interface CurveSeries {
  env: string;
  variant: string;
  aux: string;
  seeds: number;
  points: CurvePoint[];
  /** The paper's numbers for this task and variant, marked at 100k. */
  paper?: PublishedScores;
}

/** The paper's 100k numbers are marked beside curves that reach this many env steps. */
export const PAPER_MARK_FROM = 50_000;

/** Curves of an aux name no longer registered (an old run). */
const unknownAuxColor = '#7f7f7f';
/** Variants that are more than an aux loss (pixel SAC, other augmentations) take these, in order, skipping colours already drawn. */
const otherVariantColors = ['#000000', '#bcbd22', '#e377c2', '#aec7e8', '#98df8a', '#c5b0d5'];

export function variantColors(variants: ReadonlyArray<{ variant: string; aux: string }>): string[] {
  const own = variants.map(({ variant, aux }) => (variant === aux ? (auxReport(aux)?.color ?? unknownAuxColor) : undefined));
  const used = new Set(own.filter((c) => c !== undefined));
  let next = 0;
  return own.map((color) => {
    if (color !== undefined) return color;
    let pick = otherVariantColors[next++ % otherVariantColors.length]!;
    while (used.has(pick) && next < otherVariantColors.length * 2) pick = otherVariantColors[next++ % otherVariantColors.length]!;
    used.add(pick);
    return pick;
  });
}
export const fontFamily = 'DejaVu Sans, Helvetica, Arial, sans-serif';

export function curvesSpec(series: readonly CurveSeries[], options: { band: BandKind; title?: string }): TopLevelSpec {
  const rows = series.flatMap((s) =>
    s.points.map((p) => ({ env: s.env, variant: s.variant, envStep: p.envStep, mean: p.mean, lo: p.lo, hi: p.hi, n: p.n })),
  );
  const paperRows = series.flatMap((s) => {
    // a mark at 100k beside a curve that stops far short of it would only squeeze the curve
    const lastStep = s.points.length > 0 ? s.points[s.points.length - 1]!.envStep : 0;
    if (s.paper === undefined || lastStep < PAPER_MARK_FROM) return [];
    const std = s.paper.std100k ?? 0;
    return [{ env: s.env, variant: s.variant, envStep: 100_000, mean: s.paper.at100k, lo: s.paper.at100k - std, hi: s.paper.at100k + std, paper: true }];
  });
  const variants = [...new Map(series.map((s) => [s.variant, { variant: s.variant, aux: s.aux }])).values()].sort((a, b) => a.variant.localeCompare(b.variant));
  const variantDomain = variants.map((v) => v.variant);
  const tasks = new Set(series.map((s) => s.env)).size;
  // The area layer alone would draw pale legend swatches; a stroke symbol reads as the line.
  const legend = { symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 };
  const color = {
    field: 'variant',
    type: 'nominal' as const,
    title: 'variant',
    legend,
    scale: { domain: variantDomain, range: variantColors(variants) },
  };
  const x = {
    field: 'envStep',
    type: 'quantitative' as const,
    title: 'environment steps',
    // d3's SI format would print the origin as "0k"
    axis: { labelExpr: "datum.value >= 1000 ? format(datum.value / 1000, '~g') + 'k' : format(datum.value, '~g')" },
  };
  const bandTitle =
    (options.band === 'std' ? 'mean ± std over seeds' : 'mean and 95% CI over seeds') + (paperRows.length > 0 ? '; diamonds: CURL paper at 100k (± std)' : '');
  const ours = { filter: '!datum.paper' };
  const paper = { filter: 'datum.paper' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: options.title ?? 'Eval return vs environment steps', subtitle: bandTitle },
    data: { values: [...rows, ...paperRows] },
    facet: { field: 'env', type: 'nominal', title: null, header: { labelFontSize: 13, labelFontWeight: 'bold' } },
    columns: Math.min(3, Math.max(1, tasks)),
    spec: {
      width: 300,
      height: 200,
      layer: [
        { transform: [ours], mark: { type: 'area', opacity: 0.2 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'eval return' }, y2: { field: 'hi' }, color } },
        { transform: [ours], mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { field: 'mean', type: 'quantitative' }, color } },
        {
          transform: [ours],
          mark: { type: 'point', filled: true, size: 18 },
          encoding: {
            x,
            y: { field: 'mean', type: 'quantitative' },
            color,
            tooltip: [{ field: 'variant' }, { field: 'envStep' }, { field: 'mean', format: '.1f' }, { field: 'n', title: 'seeds' }],
          },
        },
        ...(paperRows.length === 0
          ? []
          : [
              { transform: [paper], mark: { type: 'rule' as const, strokeWidth: 1.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative' as const }, y2: { field: 'hi' }, color } },
              {
                transform: [paper],
                mark: { type: 'point' as const, shape: 'diamond', filled: true, size: 90, stroke: 'black', strokeWidth: 0.8 },
                encoding: { x, y: { field: 'mean', type: 'quantitative' as const }, color, tooltip: [{ field: 'variant' }, { field: 'mean', title: 'CURL paper, 100k' }] },
              },
            ]),
      ],
    },
    resolve: { scale: { x: 'independent', y: 'independent' } },
    config: { font: fontFamily, background: 'white', view: { stroke: '#ddd' } },
  };
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

/*
 * Learning curves as Vega-Lite: one panel per task, one colour per aux loss,
 * a line for the mean over seeds and a shaded band. Rendered headless (vega
 * View with renderer 'none' -> SVG string), then SVG -> PNG with resvg, so no
 * browser or canvas package is needed.
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { auxReport } from '../../agents/aux/registry.js';
import type { BandKind, CurvePoint } from './aggregate.js';

export interface CurveSeries {
  env: string;
  aux: string;
  seeds: number;
  points: CurvePoint[];
}

/** Curves of a name no longer registered (an old run). */
const unknownAuxColor = '#7f7f7f';
const fontFamily = 'DejaVu Sans, Helvetica, Arial, sans-serif';

export function curvesSpec(series: readonly CurveSeries[], options: { band: BandKind; title?: string }): TopLevelSpec {
  const rows = series.flatMap((s) =>
    s.points.map((p) => ({ env: s.env, aux: s.aux, legend: `${s.aux}`, envStep: p.envStep, mean: p.mean, lo: p.lo, hi: p.hi, n: p.n })),
  );
  const auxDomain = [...new Set(series.map((s) => s.aux))].sort();
  const tasks = new Set(series.map((s) => s.env)).size;
  // The area layer alone would draw pale legend swatches; a stroke symbol reads as the line.
  const legend = { symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 };
  const color = {
    field: 'aux',
    type: 'nominal' as const,
    title: 'aux loss',
    legend,
    scale: { domain: auxDomain, range: auxDomain.map((a) => auxReport(a)?.color ?? unknownAuxColor) },
  };
  const x = {
    field: 'envStep',
    type: 'quantitative' as const,
    title: 'environment steps',
    // d3's SI format would print the origin as "0k"
    axis: { labelExpr: "datum.value >= 1000 ? format(datum.value / 1000, '~g') + 'k' : format(datum.value, '~g')" },
  };
  const bandTitle = options.band === 'std' ? 'mean ± std over seeds' : 'mean and 95% CI over seeds';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: options.title ?? 'Eval return vs environment steps', subtitle: bandTitle },
    data: { values: rows },
    facet: { field: 'env', type: 'nominal', title: null, header: { labelFontSize: 13, labelFontWeight: 'bold' } },
    columns: Math.min(3, Math.max(1, tasks)),
    spec: {
      width: 300,
      height: 200,
      layer: [
        { mark: { type: 'area', opacity: 0.2 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'eval return' }, y2: { field: 'hi' }, color } },
        { mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { field: 'mean', type: 'quantitative' }, color } },
        {
          mark: { type: 'point', filled: true, size: 18 },
          encoding: {
            x,
            y: { field: 'mean', type: 'quantitative' },
            color,
            tooltip: [{ field: 'aux' }, { field: 'envStep' }, { field: 'mean', format: '.1f' }, { field: 'n', title: 'seeds' }],
          },
        },
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

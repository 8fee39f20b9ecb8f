/*
 * The state probe as a ranking (issue 26): per task, the variants ordered by
 * their encoders' probe R², beside the return they reached, and how far the
 * two orders agree (Spearman's rank correlation). Returns at small budgets do
 * not rank objectives; the point of the probe is to see whether it does, so
 * the report shows both orders side by side rather than either alone.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { Stat } from './aggregate.js';
import { fontFamily } from './plot.js';
import type { GroupSummary } from './summarize.js';

export interface ProbeRankRow {
  rank: number;
  env: string;
  variant: string;
  aux: string;
  seeds: number;
  trained: Stat;
  initial: Stat;
  /** trained minus initial within each run, then over seeds: each run's initial R² is scored on its own policy's episodes. */
  gain: Stat;
  /** The trained encoder's R² on each source of held-out episodes (policy, random actions), where every seed's probe scored it. */
  trainedBySource?: Record<string, Stat>;
  /** The group's return measure: each seed's mean over its last evaluations. */
  ret: Stat;
}

export interface ProbeRanking {
  env: string;
  rows: ProbeRankRow[];
  /** Spearman's rho between probe R² (trained) and the return over the task's variants; undefined below MIN_RANKED variants. */
  spearman?: number;
}

/** Fewer variants than this give a rank correlation of no meaning (two points always correlate ±1). */
export const MIN_RANKED = 3;

/** 1-based ranks, ties sharing the mean of the ranks they span (so rho stays Pearson's r of the ranks). */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]!.v === order[start]!.v) end++;
    const shared = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) ranks[order[k]!.i] = shared;
    start = end + 1;
  }
  return ranks;
}

function pearson(xs: readonly number[], ys: readonly number[]): number {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let k = 0; k < xs.length; k++) {
    sxy += (xs[k]! - mx) * (ys[k]! - my);
    sxx += (xs[k]! - mx) ** 2;
    syy += (ys[k]! - my) ** 2;
  }
  // a constant column has no order to agree with
  return sxx === 0 || syy === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy);
}

/** Spearman's rank correlation: Pearson's r of the average ranks (exact with ties). */
export function spearman(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) throw new RangeError(`spearman: ${xs.length} values against ${ys.length}; both lists need one value per item`);
  if (xs.length < 2) return Number.NaN;
  return pearson(averageRanks(xs), averageRanks(ys));
}

/** Per task with probed variants: the variants by descending mean probe R², the best first. */
export function probeRankings(groups: readonly GroupSummary[]): ProbeRanking[] {
  const byEnv = new Map<string, ProbeRankRow[]>();
  for (const g of groups) {
    if (g.probe === undefined) continue;
    const rows = byEnv.get(g.env) ?? [];
    rows.push({ rank: 0, env: g.env, variant: g.variant, aux: g.aux, seeds: g.seeds.length, ...g.probe, ret: g.lastK });
    byEnv.set(g.env, rows);
  }
  return [...byEnv.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([env, rows]) => {
      rows.sort((a, b) => b.trained.mean - a.trained.mean || a.variant.localeCompare(b.variant));
      rows.forEach((r, k) => (r.rank = k + 1));
      const ranked = rows.filter((r) => Number.isFinite(r.ret.mean));
      const ranking: ProbeRanking = { env, rows };
      if (ranked.length >= MIN_RANKED) {
        const rho = spearman(ranked.map((r) => r.trained.mean), ranked.map((r) => r.ret.mean));
        if (Number.isFinite(rho)) ranking.spearman = rho;
      }
      return ranking;
    });
}

/**
 * Probe R² (x) against return (y), one point per variant with ± std bars over
 * seeds on both axes, labelled, one panel per task, and a dashed line back to
 * the same runs' encoders at initialisation.
 */
export function probeSpec(rankings: readonly ProbeRanking[], options: { colors: Map<string, string>; returnTitle: string }): TopLevelSpec {
  const rows = rankings.flatMap((r) =>
    r.rows.map((row) => ({
      env: r.spearman === undefined ? row.env : `${row.env} (Spearman ρ = ${r.spearman.toFixed(2)})`,
      variant: row.variant,
      r2: row.trained.mean,
      r2lo: row.trained.mean - row.trained.std,
      r2hi: row.trained.mean + row.trained.std,
      initial: row.initial.mean,
      ret: row.ret.mean,
      retlo: row.ret.mean - row.ret.std,
      rethi: row.ret.mean + row.ret.std,
      seeds: row.seeds,
    })),
  );
  const variants = [...new Set(rows.map((r) => r.variant))].sort();
  const color = {
    field: 'variant',
    type: 'nominal' as const,
    legend: null,
    scale: { domain: variants, range: variants.map((v) => options.colors.get(v) ?? '#7f7f7f') },
  };
  const x = { field: 'r2', type: 'quantitative' as const, title: 'probe R² of the trained encoder (held out, mean over state dims)', scale: { zero: false } };
  const y = { field: 'ret', type: 'quantitative' as const, title: options.returnTitle, scale: { zero: false } };
  const panels = new Set(rows.map((r) => r.env)).size;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'State probe against return, per variant', subtitle: ['mean ± std over seeds', 'hollow grey circles: the same runs’ encoders at initialisation'] },
    data: { values: rows },
    facet: { field: 'env', type: 'nominal', title: null, header: { labelFontSize: 13, labelFontWeight: 'bold' } },
    columns: Math.min(2, Math.max(1, panels)),
    spec: {
      width: 420,
      height: 300,
      layer: [
        // from the encoders at initialisation to the trained ones: what training added
        { mark: { type: 'rule', color: '#bbb', strokeWidth: 1, strokeDash: [3, 2] }, encoding: { x: { field: 'initial', type: 'quantitative' }, x2: { field: 'r2' }, y } },
        { mark: { type: 'point', filled: false, color: '#999', size: 40 }, encoding: { x: { field: 'initial', type: 'quantitative' }, y } },
        { mark: { type: 'rule', strokeWidth: 1.2 }, encoding: { x: { field: 'r2lo', type: 'quantitative' }, x2: { field: 'r2hi' }, y, color } },
        { mark: { type: 'rule', strokeWidth: 1.2 }, encoding: { x, y: { field: 'retlo', type: 'quantitative' }, y2: { field: 'rethi' }, color } },
        {
          mark: { type: 'point', filled: true, size: 70, stroke: 'black', strokeWidth: 0.5 },
          encoding: { x, y, color, tooltip: [{ field: 'variant' }, { field: 'r2', format: '.3f' }, { field: 'ret', format: '.1f' }, { field: 'seeds' }] },
        },
        { mark: { type: 'text', align: 'left', dx: 7, dy: -7, fontSize: 11 }, encoding: { x, y, text: { field: 'variant' }, color } },
      ],
    },
    resolve: { scale: { x: 'independent', y: 'independent' } },
    config: { font: fontFamily, background: 'white', view: { stroke: '#ddd' } },
  };
}

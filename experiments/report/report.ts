/*
 * `curl-rl report`: scans run directories, aggregates eval curves over seeds
 * per task and aux loss, and writes curves.svg, curves.png, report.md,
 * summary.json and the curves as TensorBoard event files (tb/) into the
 * output folder.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ConfigError } from '../../src/core/errors.js';
import type { Alignment, BandKind } from './aggregate.js';
import { loadRun, scanRunsRoot, type RunSummary, type SweepIndexSummary } from './load-runs.js';
import { formatDuration, probeTable, resultsTable, runsTable, sweepsTable } from './markdown.js';
import { curvesSpec, renderSvg, svgToPng, variantColors } from './plot.js';
import { MIN_RANKED, probeRankings, probeSpec, type ProbeRanking } from './probe-ranking.js';
import { LAST_K, summarizeGroups, type GroupSummary } from './summarize.js';
import { writeReportEventFiles } from './tensorboard.js';

export interface ReportOptions {
  out: string;
  band?: BandKind;
  alignment?: Alignment;
  title?: string;
}

export interface ReportSummary {
  generatedAt: string;
  /** As given on the command line; run and index paths below are relative to it. */
  runsDir: string;
  band: BandKind;
  alignment: Alignment;
  groups: GroupSummary[];
  runs: RunSummary[];
  /** Per task, the probed variants by probe R²; empty when no run has a probe.json. */
  probeRankings: ProbeRanking[];
  sweeps: SweepIndexSummary[];
  totalWallClockSeconds: number;
  warnings: string[];
}

export interface ReportResult {
  summary: ReportSummary;
  /** tensorboard: the folder of the curves' event files, one TensorBoard run per task and aux. */
  files: { svg: string; png: string; markdown: string; json: string; tensorboard: string; probeSvg?: string; probePng?: string };
}

function probeSection(rankings: readonly ProbeRanking[]): string[] {
  if (rankings.length === 0) return [];
  const lines = [
    '## State probe',
    '',
    '![probe R² against return](probe.png)',
    '',
    'Each variant\'s encoders ranked by `curl-rl probe`: a ridge regression from the frozen encoder\'s features to the true physical state, ' +
      'R² on held-out episodes averaged over the state\'s dimensions (mean ± std over seeds). *initial*: the same run\'s encoder at initialisation, ' +
      'scored on the same episodes; *gain*: trained minus initial within each run, then over seeds. *trained, policy / random-action episodes* ' +
      '(where the probes scored them apart): the trained encoder on the held-out episodes of each kind alone, the same fit scored on fewer rows, ' +
      'so neither need bracket the overall R², and a source whose states barely vary (the episodes of a policy that keeps the cart still) ' +
      'can score far below 0, its R² being relative to that small spread. *return*: as in the table above.',
  ];
  for (const r of rankings) {
    lines.push('', `### ${r.env}`, '', probeTable(r), '');
    lines.push(
      r.spearman !== undefined
        ? `Spearman's rank correlation between probe R² and return over these ${r.rows.length} variants: ρ = ${r.spearman.toFixed(2)} ` +
            '(1: the probe orders the variants as their returns do; 0: no relation).'
        : `No rank correlation: it needs at least ${MIN_RANKED} variants with a return.`,
    );
  }
  lines.push('');
  return lines;
}

export function markdownReport(summary: ReportSummary): string {
  const rel = (path: string): string => path;
  const bandText = summary.band === 'std' ? 'mean ± standard deviation over seeds' : 'mean and 95% confidence interval (Student t) over seeds';
  const alignText =
    summary.alignment === 'common'
      ? 'curves keep only the eval steps that every seed of a group has'
      : 'each seed is linearly interpolated onto the union of eval steps inside the range all seeds cover';
  const tasks = new Set(summary.runs.map((r) => r.env)).size;
  const lines = [
    '# Evaluation report',
    '',
    `Generated ${summary.generatedAt} from \`${summary.runsDir}\`: ${summary.runs.length} runs, ${tasks} tasks. ` +
      `Shaded band: ${bandText}; ${alignText}.`,
    '',
    '![learning curves](curves.png)',
    '',
    '## Eval return',
    '',
    resultsTable(summary.groups),
    '',
    '*first eval*: each seed\'s first evaluation (the untrained policy when a run evaluates at step 0). ' +
      '*final return*: each seed\'s last evaluation, mean ± sample std over seeds (a single seed shows no ±). ' +
      `*last ${LAST_K} evals*: each seed's mean over its last ${LAST_K} evaluations (steadier than one evaluation of a few episodes), mean ± std over seeds. ` +
      '*100k*, *500k*: each seed\'s last evaluation at or before that many environment steps (± one action repeat); ' +
      '"—" where no seed got there, "(k/n seeds)" where only some did. ' +
      '*paper*: CURL (Srinivas, Laskin & Abbeel 2020) Table 1, mean over 10 seeds; `curl` is compared with CURL and `pixel-sac` (`--aux none --aug none`) with Pixel SAC; `none` trains on random crops, which the paper\'s Pixel SAC did not, so its paper cells show —. ' +
      'Runs with CPU presets use smaller images, batches and networks and far fewer steps than the paper: compare curl with none here, not these numbers with the paper\'s.',
    '',
    ...probeSection(summary.probeRankings),
    '## Runs',
    '',
    runsTable(summary.runs, rel),
    '',
    `Total training wall clock over all runs: ${formatDuration(summary.totalWallClockSeconds)} ` +
      '(runs in parallel overlap, so the elapsed time was shorter). *env steps/s* is env steps over the whole wall clock, evaluation included; ' +
      '*updates/s* is the mean of the logged update rates once updates started.',
  ];
  if (summary.sweeps.length > 0) {
    lines.push('', '## Sweeps', '', sweepsTable(summary.sweeps, rel), '');
    const failed = summary.sweeps.flatMap((s) => s.runs.filter((r) => r.state === 'failed').map((r) => `- ${s.name}/${r.id}: ${r.reason ?? 'no reason recorded'}`));
    if (failed.length > 0) lines.push('Failed runs:', '', ...failed);
  }
  if (summary.warnings.length > 0) lines.push('', '## Warnings', '', ...summary.warnings.map((w) => `- ${w}`));
  return `${lines.join('\n')}\n`;
}

export async function buildReport(runsDir: string, options: ReportOptions): Promise<ReportResult> {
  const root = resolve(runsDir);
  const band = options.band ?? 'std';
  const alignment = options.alignment ?? 'common';
  const warnings: string[] = [];
  const runs: RunSummary[] = [];
  // Paths in the outputs are relative to the runs folder, so a committed report holds no machine's paths.
  const rel = (path: string): string => relative(root, path) || '.';
  const scan = scanRunsRoot(root);
  for (const dir of scan.runDirs) {
    const run = loadRun(dir);
    if (run === undefined) {
      warnings.push(`${rel(dir)}: config.json is not a run config; skipped`);
      continue;
    }
    run.dir = rel(dir);
    if (run.skippedLines > 0) warnings.push(`${run.dir}: ${run.skippedLines} unreadable line(s) in metrics.jsonl skipped`);
    if (run.evals.length === 0) warnings.push(`${run.dir}: no evaluations yet; not in the curves`);
    runs.push(run);
  }
  if (runs.length === 0) {
    throw new ConfigError(`No run directories under ${root}: a run directory holds config.json and metrics.jsonl (written by \`curl-rl train\`).`);
  }
  runs.sort((a, b) => a.env.localeCompare(b.env) || a.variant.localeCompare(b.variant) || a.seed - b.seed || a.dir.localeCompare(b.dir));
  const groups = summarizeGroups(runs, { band, alignment });
  for (const g of groups) {
    const dupes = g.seeds.filter((s, i) => g.seeds.indexOf(s) !== i);
    if (dupes.length > 0) warnings.push(`${g.env}/${g.variant}: seed(s) ${[...new Set(dupes)].join(', ')} appear in more than one run directory; each counts as a seed`);
    if (g.droppedPoints > 0) warnings.push(`${g.env}/${g.variant}: ${g.droppedPoints} eval point(s) not shared by all seeds left out of the curve`);
  }
  const summary: ReportSummary = {
    generatedAt: new Date().toISOString(),
    runsDir,
    band,
    alignment,
    groups,
    runs,
    probeRankings: probeRankings(groups),
    sweeps: scan.sweeps.map((sweep) => ({ ...sweep, path: rel(sweep.path) })),
    totalWallClockSeconds: runs.reduce((a, r) => a + (r.wallClockSeconds ?? 0), 0),
    warnings,
  };

  const series = groups
    .filter((g) => g.curve.length > 0)
    .map((g) => ({ env: g.env, variant: g.variant, aux: g.aux, seeds: g.seeds.length, points: g.curve, ...(g.paper ? { paper: g.paper } : {}) }));
  const svg = await renderSvg(curvesSpec(series, { band, ...(options.title !== undefined ? { title: options.title } : {}) }));
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  const files: ReportResult['files'] = {
    svg: join(out, 'curves.svg'),
    png: join(out, 'curves.png'),
    markdown: join(out, 'report.md'),
    json: join(out, 'summary.json'),
    tensorboard: writeReportEventFiles(out, groups, band),
  };
  writeFileSync(files.svg, svg);
  writeFileSync(files.png, svgToPng(svg));
  writeFileSync(files.markdown, markdownReport(summary));
  if (summary.probeRankings.length > 0) {
    const variants = [...new Map(groups.map((g) => [g.variant, { variant: g.variant, aux: g.aux }])).values()].sort((a, b) => a.variant.localeCompare(b.variant));
    const palette = variantColors(variants);
    const colors = new Map(variants.map((v, k) => [v.variant, palette[k]!]));
    const probeSvg = await renderSvg(probeSpec(summary.probeRankings, { colors, returnTitle: `eval return, mean of the last ${LAST_K} evaluations` }));
    files.probeSvg = join(out, 'probe.svg');
    files.probePng = join(out, 'probe.png');
    writeFileSync(files.probeSvg, probeSvg);
    writeFileSync(files.probePng, svgToPng(probeSvg));
  } else {
    // a report written again without probed runs must not keep an older report's plot
    for (const stale of ['probe.svg', 'probe.png']) rmSync(join(out, stale), { force: true });
  }
  writeFileSync(files.json, `${JSON.stringify(summary, null, 2)}\n`);
  return { summary, files };
}

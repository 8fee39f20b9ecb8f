// Markdown tables of the report: results per task and aux next to the paper, then one row per run.
import type { Stat } from './aggregate.js';
import type { RunSummary, SweepIndexSummary } from './load-runs.js';
import type { ProbeRanking } from './probe-ranking.js';
import { LAST_K, type GroupSummary } from './summarize.js';

const dash = '—';

export function formatStat(s: Stat | undefined, seeds?: number): string {
  if (s === undefined || s.n === 0 || !Number.isFinite(s.mean)) return dash;
  const text = s.n > 1 ? `${s.mean.toFixed(1)} ± ${s.std.toFixed(1)}` : s.mean.toFixed(1);
  return seeds !== undefined && s.n < seeds ? `${text} (${s.n}/${seeds} seeds)` : text;
}

/** R^2 to three decimals (formatStat's one decimal would round a probe's 0.41 to 0.4). */
function formatR2Stat(s: Stat | undefined, seeds: number): string {
  if (s === undefined || s.n === 0 || !Number.isFinite(s.mean)) return dash;
  const text = s.n > 1 ? `${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}` : s.mean.toFixed(3);
  return s.n < seeds ? `${text} (${s.n}/${seeds} seeds)` : text;
}

export function formatSteps(steps: number): string {
  if (steps >= 1e6 && steps % 1e5 === 0) return `${steps / 1e6}M`;
  if (steps >= 1e3 && steps % 100 === 0) return `${steps / 1e3}k`;
  return String(steps);
}

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined) return dash;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m ${String(r).padStart(2, '0')}s` : `${r}s`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function row(cells: string[]): string {
  return `| ${cells.map(cell).join(' | ')} |`;
}

export function resultsTable(groups: readonly GroupSummary[]): string {
  const probed = groups.some((g) => g.probe !== undefined);
  const header = ['task', 'variant', 'seeds', 'first eval', 'final step', 'final return', `last ${LAST_K} evals`, '100k', 'paper 100k', '500k', 'paper 500k'];
  if (probed) header.push('probe R² trained', 'probe R² initial');
  const lines = [row(header), row(header.map(() => '---'))];
  for (const g of groups) {
    const n = g.seeds.length;
    const steps = g.final.minStep === g.final.maxStep ? formatSteps(g.final.maxStep) : `${formatSteps(g.final.minStep)}–${formatSteps(g.final.maxStep)}`;
    lines.push(
      row([
        g.env,
        g.variant,
        String(n),
        formatStat(g.initial, n),
        g.final.n > 0 ? steps : dash,
        formatStat(g.final, n),
        formatStat(g.lastK, n),
        formatStat(g.at100k, n),
        g.paper ? String(g.paper.at100k) : dash,
        formatStat(g.at500k, n),
        g.paper ? String(g.paper.at500k) : dash,
        ...(probed ? [formatR2Stat(g.probe?.trained, n), formatR2Stat(g.probe?.initial, n)] : []),
      ]),
    );
  }
  return lines.join('\n');
}

/** One task's variants by probe R², the best first, beside the return they reached. */
export function probeTable(ranking: ProbeRanking): string {
  const sources = [...new Set(ranking.rows.flatMap((r) => Object.keys(r.trainedBySource ?? {})))].sort();
  const header = [
    'rank', 'variant', 'seeds', 'probe R² trained', 'probe R² initial', 'gain (trained − initial)',
    ...sources.map((source) => `trained, ${source === 'random' ? 'random-action' : source} episodes`),
    `return, last ${LAST_K} evals`,
  ];
  const lines = [row(header), row(header.map(() => '---'))];
  for (const r of ranking.rows) {
    const bySource = sources.map((source) => (r.trainedBySource?.[source] ? formatR2Stat(r.trainedBySource[source], r.seeds) : dash));
    lines.push(row([String(r.rank), r.variant, String(r.seeds), formatR2Stat(r.trained, r.seeds), formatR2Stat(r.initial, r.seeds), formatR2Stat(r.gain, r.seeds), ...bySource, formatStat(r.ret, r.seeds)]));
  }
  return lines.join('\n');
}

export function runsTable(runs: readonly RunSummary[], relative: (dir: string) => string): string {
  const header = ['run', 'task', 'variant', 'seed', 'state', 'env steps', 'env steps/s', 'updates/s', 'wall clock'];
  const lines = [row(header), row(header.map(() => '---'))];
  for (const r of runs) {
    lines.push(
      row([
        relative(r.dir),
        r.env,
        r.variant,
        String(r.seed),
        r.state,
        String(r.envStep),
        r.envStepsPerSec !== undefined ? r.envStepsPerSec.toFixed(1) : dash,
        r.updatesPerSec !== undefined ? r.updatesPerSec.toFixed(2) : dash,
        formatDuration(r.wallClockSeconds),
      ]),
    );
  }
  return lines.join('\n');
}

/** Sweep progress from index.json; elapsed is the sum of the sweep's sessions (its real wall clock). */
export function sweepsTable(sweeps: readonly SweepIndexSummary[], relative: (path: string) => string): string {
  const header = ['sweep', 'index', 'runs', 'finished', 'failed', 'other', 'elapsed'];
  const lines = [row(header), row(header.map(() => '---'))];
  for (const s of sweeps) {
    const finished = s.runs.filter((r) => r.state === 'finished').length;
    const failed = s.runs.filter((r) => r.state === 'failed').length;
    lines.push(
      row([s.name, relative(s.path), String(s.runs.length), String(finished), String(failed), String(s.runs.length - finished - failed), formatDuration(s.elapsedSeconds)]),
    );
  }
  return lines.join('\n');
}

import { auxReport } from '../../agents/aux/registry.js';
import { aggregateCurves, stat, valueAtStep, type Alignment, type BandKind, type CurvePoint, type Stat } from './aggregate.js';
import type { RunSummary } from './load-runs.js';
import { publishedScores, type PublishedScores } from './paper.js';

/** One task x variant: its seeds' runs reduced to a curve and the table's numbers. */
export interface GroupSummary {
  env: string;
  variant: string;
  aux: string;
  seeds: number[];
  runDirs: string[];
  curve: CurvePoint[];
  /** Eval points left out by the alignment (see aggregate.ts). */
  droppedPoints: number;
  /** Each seed's first evaluation: the untrained policy when runs evaluate at step 0. */
  initial: Stat;
  /** Each seed's last evaluation. */
  final: Stat & { minStep: number; maxStep: number };
  /** Each seed's mean over its last LAST_K evaluations: steadier than one evaluation of a few episodes. */
  lastK: Stat;
  /** Over the seeds that reached the step; undefined when none did. */
  at100k?: Stat;
  at500k?: Stat;
  paper?: PublishedScores;
  /**
   * The seeds' probe R^2 (mean over state dimensions, held out), trained and at initialisation, where runs have probe.json;
   * gain is trained minus initial within each run (each run's initial encoder is scored on its own policy's episodes);
   * trainedBySource: the trained encoder's R^2 on each source of held-out episodes (policy, random actions) that every seed's probe scored.
   */
  probe?: { trained: Stat; initial: Stat; gain: Stat; trainedBySource?: Record<string, Stat> };
}

/** How many of a run's last evaluations `lastK` averages. */
export const LAST_K = 3;

type GroupKey = { env: string; variant: string; aux: string };

function compareGroups(a: GroupKey, b: GroupKey): number {
  // objectives in their registry rank; a name no longer registered (an old run) after them
  const rank = (aux: string): number => auxReport(aux)?.rank ?? Number.MAX_SAFE_INTEGER;
  return a.env.localeCompare(b.env) || rank(a.aux) - rank(b.aux) || a.aux.localeCompare(b.aux) || a.variant.localeCompare(b.variant);
}

function statAt(runs: RunSummary[], target: number): Stat | undefined {
  const values = runs.flatMap((r) => {
    const v = valueAtStep(r.evals, target, r.actionRepeat);
    return v === undefined ? [] : [v];
  });
  return values.length === 0 ? undefined : stat(values);
}

export function summarizeGroups(runs: readonly RunSummary[], options: { band: BandKind; alignment: Alignment }): GroupSummary[] {
  const groups = new Map<string, RunSummary[]>();
  for (const run of runs) {
    const key = JSON.stringify([run.env, run.variant]);
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  const summaries: GroupSummary[] = [];
  for (const members of groups.values()) {
    const withEvals = members.filter((r) => r.evals.length > 0).sort((a, b) => a.seed - b.seed);
    const { env, variant, aux } = members[0]!;
    const { points, dropped } = aggregateCurves(
      withEvals.map((r) => r.evals),
      options,
    );
    const byStep = withEvals.map((r) => [...r.evals].sort((a, b) => a.envStep - b.envStep));
    const finals = byStep.map((evals) => evals[evals.length - 1]!);
    const lastK = byStep.map((evals) => {
      const tail = evals.slice(-LAST_K);
      return tail.reduce((sum, p) => sum + p.value, 0) / tail.length;
    });
    const summary: GroupSummary = {
      env,
      variant,
      aux,
      seeds: members.map((r) => r.seed).sort((a, b) => a - b),
      runDirs: members.map((r) => r.dir).sort(),
      curve: points,
      droppedPoints: dropped,
      initial: stat(byStep.map((evals) => evals[0]!.value)),
      lastK: stat(lastK),
      final: {
        ...stat(finals.map((p) => p.value)),
        minStep: finals.length ? Math.min(...finals.map((p) => p.envStep)) : 0,
        maxStep: finals.length ? Math.max(...finals.map((p) => p.envStep)) : 0,
      },
    };
    const at100k = statAt(withEvals, 100_000);
    const at500k = statAt(withEvals, 500_000);
    if (at100k) summary.at100k = at100k;
    if (at500k) summary.at500k = at500k;
    const probed = members.flatMap((r) => (r.probe ? [r.probe] : []));
    if (probed.length > 0) {
      summary.probe = { trained: stat(probed.map((p) => p.trained)), initial: stat(probed.map((p) => p.initial)), gain: stat(probed.map((p) => p.trained - p.initial)) };
      // per source only where every seed's probe scored it, so that a column's seeds are the row's seeds
      const sources = [...new Set(probed.flatMap((p) => Object.keys(p.trainedBySource ?? {})))].sort();
      const complete = sources.filter((source) => probed.every((p) => p.trainedBySource?.[source] !== undefined));
      if (complete.length > 0) summary.probe.trainedBySource = Object.fromEntries(complete.map((source) => [source, stat(probed.map((p) => p.trainedBySource![source]!))]));
    }
    const paper = publishedScores(env, variant);
    if (paper) summary.paper = paper;
    summaries.push(summary);
  }
  return summaries.sort(compareGroups);
}

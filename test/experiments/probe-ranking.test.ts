/*
 * The probe ranking of the report: the rank correlation against hand-computed
 * values, the order and the within-run gains of the variants, and the report's
 * probe section and plot built from run folders with probe.json.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { averageRanks, probeRankings, spearman } from '../../experiments/report/probe-ranking.js';
import { buildReport } from '../../experiments/report/report.js';

describe('rank correlation', () => {
  it('gives tied values the mean of the ranks they span', () => {
    expect(averageRanks([10, 30, 20])).toEqual([1, 3, 2]);
    expect(averageRanks([5, 1, 5, 5, 0])).toEqual([4, 2, 4, 4, 1]);
  });

  it("matches Spearman's formula 1 - 6 sum d^2 / (n (n^2 - 1)) without ties and is Pearson's r of the ranks with them", () => {
    // ranks of x: 1 2 3 4 5; of y: 2 1 4 3 5 -> d^2 sums to 4, rho = 1 - 24 / 120 = 0.8
    expect(spearman([0.1, 0.2, 0.3, 0.4, 0.5], [20, 10, 40, 30, 50])).toBeCloseTo(0.8, 12);
    expect(spearman([1, 2, 3], [30, 20, 10])).toBeCloseTo(-1, 12);
    // monotone but not linear: still 1
    expect(spearman([1, 2, 3, 4], [1, 10, 100, 1000])).toBeCloseTo(1, 12);
    // x ranks 1, 2.5, 2.5, 4; y ranks 1..4: r = 4.5 / sqrt(4.5 * 5)
    expect(spearman([1, 2, 2, 3], [1, 2, 3, 4])).toBeCloseTo(4.5 / Math.sqrt(4.5 * 5), 12);
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(() => spearman([1, 2], [1])).toThrow(/2 values against 1/);
  });
});

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'probe-ranking-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A finished 20k run with evals every 5k (return `ret` at each of the last three) and its probe.json. */
function probedRun(
  aux: string, seed: number, ret: number, trained: number, initial: number, env = 'cartpole-swingup', bySource?: Record<string, number>,
): void {
  const dir = join(tmp, 'runs', `${env}-${aux}-s${seed}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ config: { env, aux, seed, actionRepeat: 8 } }));
  writeFileSync(join(dir, 'status.json'), JSON.stringify({ state: 'finished', agentStep: 2500, envStep: 20_000, wallClockSeconds: 900 }));
  const evals = [0, 5000, 10_000, 15_000, 20_000].map((envStep, k) => ({ type: 'eval', envStep, agentStep: envStep / 8, mean: k < 3 ? 0 : ret, std: 1, returns: [ret] }));
  writeFileSync(join(dir, 'metrics.jsonl'), `${evals.map((e) => JSON.stringify(e)).join('\n')}\n`);
  const scored = bySource ? { meanR2: trained, bySource } : { meanR2: trained };
  writeFileSync(join(dir, 'probe.json'), JSON.stringify({ scores: { trained: scored, initial: { meanR2: initial, bySource: { policy: -9, random: -9 } } } }));
}

describe('probe ranking in the report', () => {
  it('orders the variants by probe R², with per-run gains and the rank correlation with return', async () => {
    // gains within each run: curl 0.30 and 0.20; none 0.15; byol 0.10; barlow 0.05
    probedRun('curl', 1, 100, 0.5, 0.2);
    probedRun('curl', 2, 140, 0.4, 0.2);
    probedRun('none', 1, 130, 0.3, 0.15);
    probedRun('byol', 1, 50, 0.2, 0.1);
    probedRun('barlow', 1, 60, 0.1, 0.05);
    // another task with too few variants for a correlation
    probedRun('curl', 1, 10, 0.6, 0.1, 'pendulum-swingup');
    const out = join(tmp, 'report');
    const { summary, files } = await buildReport(join(tmp, 'runs'), { out });
    const [cartpole, pendulum] = summary.probeRankings;
    expect(cartpole!.rows.map((r) => [r.rank, r.variant])).toEqual([[1, 'curl'], [2, 'none'], [3, 'byol'], [4, 'barlow']]);
    const curl = cartpole!.rows[0]!;
    expect(curl.trained.mean).toBeCloseTo(0.45, 12);
    expect(curl.gain.mean).toBeCloseTo(0.25, 12);
    expect(curl.gain.std).toBeCloseTo(Math.sqrt(0.005), 12);
    // last-3 means: (0 + r + r) / 3 per seed, so curl 80 (66.7, 93.3), none 86.7, byol 33.3, barlow 40
    expect(curl.ret.mean).toBeCloseTo(80, 10);
    // probe order curl > none > byol > barlow; return order none > curl > barlow > byol: d^2 = 1 + 1 + 1 + 1, rho = 1 - 24 / 60
    expect(cartpole!.spearman).toBeCloseTo(0.6, 12);
    expect(pendulum!.spearman).toBeUndefined();

    const md = readFileSync(files.markdown, 'utf8');
    expect(md).toContain('## State probe');
    expect(md).toContain('| 1 | curl | 2 | 0.450 ± 0.071 | 0.200 ± 0.000 | 0.250 ± 0.071 | 80.0 ± 18.9 |');
    expect(md).toContain('| 4 | barlow | 1 | 0.100 | 0.050 | 0.050 | 40.0 |');
    expect(md).toContain('over these 4 variants: ρ = 0.60');
    expect(md).toContain('No rank correlation: it needs at least 3 variants');
    const png = readFileSync(files.probePng!);
    expect([...png.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    const svg = readFileSync(files.probeSvg!, 'utf8');
    expect(svg).toContain('cartpole-swingup (Spearman ρ = 0.60)');
    expect(svg).toContain('barlow');

    // written again over runs without probes, the old plot goes and the section with it
    for (const dir of ['cartpole-swingup-curl-s1', 'cartpole-swingup-curl-s2', 'cartpole-swingup-none-s1', 'cartpole-swingup-byol-s1', 'cartpole-swingup-barlow-s1', 'pendulum-swingup-curl-s1']) {
      rmSync(join(tmp, 'runs', dir, 'probe.json'));
    }
    const again = await buildReport(join(tmp, 'runs'), { out });
    expect(again.summary.probeRankings).toEqual([]);
    expect(again.files.probePng).toBeUndefined();
    expect(existsSync(join(out, 'probe.png'))).toBe(false);
    expect(readFileSync(again.files.markdown, 'utf8')).not.toContain('## State probe');
  });

  it("adds the trained encoder's R² per source of episodes, over the seeds that all scored it", async () => {
    probedRun('curl', 1, 100, 0.5, 0.2, 'cartpole-swingup', { policy: 0.6, random: 0.1 });
    probedRun('curl', 2, 140, 0.4, 0.2, 'cartpole-swingup', { policy: 0.5, random: -0.2 });
    // one seed's probe scored only the policy's episodes: its variant gets no random-action figure
    probedRun('none', 1, 130, 0.3, 0.15, 'cartpole-swingup', { policy: 0.35 });
    probedRun('none', 2, 130, 0.3, 0.15, 'cartpole-swingup', { policy: 0.25, random: 0.05 });
    // a probe.json from before per-source scores
    probedRun('byol', 1, 50, 0.2, 0.1);
    const out = join(tmp, 'report');
    const { summary, files } = await buildReport(join(tmp, 'runs'), { out });
    const [cartpole] = summary.probeRankings;
    const [curl, none, byol] = cartpole!.rows;
    expect(curl!.trainedBySource!.policy!.mean).toBeCloseTo(0.55, 12);
    expect(curl!.trainedBySource!.random!.mean).toBeCloseTo(-0.05, 12);
    expect(curl!.trainedBySource!.random!.std).toBeCloseTo(Math.sqrt(0.045), 12);
    expect(Object.keys(none!.trainedBySource!)).toEqual(['policy']);
    expect(none!.trainedBySource!.policy!.mean).toBeCloseTo(0.3, 12);
    expect(byol!.trainedBySource).toBeUndefined();
    const md = readFileSync(files.markdown, 'utf8');
    expect(md).toContain('| rank | variant | seeds | probe R² trained | probe R² initial | gain (trained − initial) | trained, policy episodes | trained, random-action episodes | return, last 3 evals |');
    expect(md).toContain('| 1 | curl | 2 | 0.450 ± 0.071 | 0.200 ± 0.000 | 0.250 ± 0.071 | 0.550 ± 0.071 | -0.050 ± 0.212 | 80.0 ± 18.9 |');
    expect(md).toContain('| 2 | none | 2 | 0.300 ± 0.000 | 0.150 ± 0.000 | 0.150 ± 0.000 | 0.300 ± 0.071 | — | 86.7 ± 0.0 |');
    expect(md).toContain('| 3 | byol | 1 | 0.200 | 0.100 | 0.100 | — | — | 33.3 |');
  });

  it('ranks nothing when no group is probed', () => {
    expect(probeRankings([])).toEqual([]);
  });
});

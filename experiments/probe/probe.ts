/*
 * The linear state probe (issue 26): how much of the true physical state a
 * frozen encoder's features hold, as the R^2 of a ridge regression from the
 * features to the state on held-out episodes. A cheap, sharp measure where RL
 * returns at small budgets do not rank representation objectives. The same
 * probe of the run's encoder at its initial weights (the run's own seed) is
 * reported beside it: what training added is the difference.
 */
import { makeEnv } from '../../envs/registry.js';
import { spaceSize } from '../../envs/types.js';
import { initBackend } from '../../src/backend.js';
import type { BackendName } from '../../src/core/backend-names.js';
import { ConfigError } from '../../src/core/errors.js';
import { checkpointCandidates } from '../../src/loop/checkpoint.js';
import { loadNewestAgent, runAgent } from '../../src/loop/evaluate-run.js';
import { runEnvOptions } from '../../src/loop/trainer.js';
import { readRunConfig } from '../../src/run/run-dir.js';
import { collectEpisodes, type FeatureFn, type FrameGeometry, type ProbeActor, type ProbeEpisodes } from './collect.js';
import { fitRidgeCv, matrix, predictRidge, rSquared, selectRows } from './ridge.js';

export interface ProbeScore {
  /** The ridge penalty cross-validation chose (on standardised features). */
  lambda: number;
  /** Held-out R^2 per state dimension, by name. */
  r2: Record<string, number>;
  /** Mean of the per-dimension R^2 (dimensions constant on the held-out episodes left out). */
  meanR2: number;
  /** Mean R^2 on the held-out episodes of each source alone. */
  bySource: Record<string, number>;
}

export interface ProbeReport {
  stateNames: string[];
  samples: { train: number; heldOut: number };
  episodes: { train: number; heldOut: number };
  scores: Record<string, ProbeScore>;
}

function mean(values: number[]): number {
  const finite = values.filter(Number.isFinite);
  return finite.length === 0 ? Number.NaN : finite.reduce((a, b) => a + b, 0) / finite.length;
}

/**
 * Fits the probe of each encoder on the training episodes (penalty by
 * episode-wise cross-validation among them) and scores it on the held-out
 * ones. `sources` names each episode's source (policy, random) for the
 * per-source scores.
 */
export function scoreProbe(data: ProbeEpisodes, encoderNames: readonly string[], heldOut: ReadonlySet<number>, sources: ReadonlyMap<number, string>): ProbeReport {
  const train: number[] = [];
  const test: number[] = [];
  data.episodeOf.forEach((episode, row) => (heldOut.has(episode) ? test : train).push(row));
  if (test.length === 0 || train.length === 0) throw new ConfigError('the probe needs episodes both to fit on and to hold out');
  const stateDim = data.stateNames.length;
  const y = matrix(data.samples, stateDim, data.states);
  const scores: Record<string, ProbeScore> = {};
  encoderNames.forEach((name, e) => {
    const x = matrix(data.samples, data.featureDims[e]!, data.features[e]!);
    const model = fitRidgeCv(selectRows(x, train), selectRows(y, train), train.map((r) => data.episodeOf[r]!));
    const scoreRows = (rows: number[]): number[] => rSquared(selectRows(y, rows), predictRidge(model, selectRows(x, rows)));
    const perDim = scoreRows(test);
    const bySource: Record<string, number> = {};
    for (const source of new Set(sources.values())) {
      const rows = test.filter((r) => sources.get(data.episodeOf[r]!) === source);
      if (rows.length > 1) bySource[source] = mean(scoreRows(rows));
    }
    scores[name] = { lambda: model.lambda, r2: Object.fromEntries(data.stateNames.map((n, i) => [n, perDim[i]!])), meanR2: mean(perDim), bySource };
  });
  const episodes = new Set(data.episodeOf);
  return {
    stateNames: data.stateNames,
    samples: { train: train.length, heldOut: test.length },
    episodes: { train: [...episodes].filter((e) => !heldOut.has(e)).length, heldOut: [...episodes].filter((e) => heldOut.has(e)).length },
    scores,
  };
}

/** Each source's last `fraction` of episodes (at least one) are held out. */
export function heldOutEpisodes(counts: ReadonlyArray<{ source: string; episodes: number }>, fraction: number): { heldOut: Set<number>; sources: Map<number, string> } {
  const heldOut = new Set<number>();
  const sources = new Map<number, string>();
  let offset = 0;
  for (const { source, episodes } of counts) {
    const hold = Math.max(1, Math.round(episodes * fraction));
    for (let i = 0; i < episodes; i++) {
      sources.set(offset + i, source);
      if (i >= episodes - hold) heldOut.add(offset + i);
    }
    offset += episodes;
  }
  return { heldOut, sources };
}

function concatEpisodes(parts: ProbeEpisodes[]): ProbeEpisodes {
  const first = parts[0]!;
  return {
    stateNames: first.stateNames,
    featureDims: first.featureDims,
    features: first.features.map((_, e) => Float32Array.from(parts.flatMap((p) => [...p.features[e]!]))),
    states: Float64Array.from(parts.flatMap((p) => [...p.states])),
    episodeOf: parts.flatMap((p) => p.episodeOf),
    samples: parts.reduce((a, p) => a + p.samples, 0),
  };
}

export interface ProbeOptions {
  /** Episodes with the run's deterministic policy, and with uniform random actions. */
  policyEpisodes: number;
  randomEpisodes: number;
  /** Base seed of the probe's episodes (episode i uses seed + i; random-action episodes continue after the policy's). */
  seed: number;
  heldOutFraction: number;
  backend?: string;
  log?: (line: string) => void;
}

export interface RunProbe extends ProbeReport {
  runDir: string;
  checkpoint: string;
  env: string;
  aux: string;
  envStep: number | null;
  options: Omit<ProbeOptions, 'log' | 'backend'>;
}

/** Probes the newest intact checkpoint of a run, and the run's encoder at its initial weights. */
export async function probeRun(runDir: string, options: ProbeOptions): Promise<RunProbe> {
  const say = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (options.policyEpisodes + options.randomEpisodes < 2) throw new ConfigError('the probe needs at least 2 episodes (--episodes plus --random-episodes)');
  const { config } = readRunConfig(runDir);
  const candidates = checkpointCandidates(runDir);
  if (candidates.length === 0) throw new ConfigError(`${runDir} has no checkpoint yet to probe.`);
  await initBackend((options.backend ?? config.backend) as BackendName);
  const env = await makeEnv(config.env, runEnvOptions(config, options.seed));
  const actionDim = env.actionSpace.kind === 'box' ? spaceSize(env.actionSpace) : 0;
  const trained = runAgent(config, actionDim);
  const initial = runAgent(config, actionDim);
  try {
    const checkpoint = loadNewestAgent(runDir, candidates, trained, say);
    const agentStep = /ckpt-(\d+)$/.exec(checkpoint)?.[1];
    const envStep = agentStep === undefined ? null : Number(agentStep) * config.actionRepeat;
    const geometry: FrameGeometry = config;
    const encoders: FeatureFn[] = [(obs, n) => trained.features(obs, n), (obs, n) => initial.features(obs, n)];
    const seeds = (count: number, from: number): number[] => Array.from({ length: count }, (_, i) => options.seed + from + i);
    const parts: ProbeEpisodes[] = [];
    const counts: Array<{ source: string; episodes: number }> = [];
    const sources: Array<{ source: string; episodes: number; actor: ProbeActor }> = [
      { source: 'policy', episodes: options.policyEpisodes, actor: (obs) => trained.act(obs, { deterministic: true }) },
      { source: 'random', episodes: options.randomEpisodes, actor: 'random' },
    ];
    let offset = 0;
    for (const { source, episodes, actor } of sources) {
      if (episodes === 0) continue;
      say(`probe: ${episodes} ${source === 'policy' ? "episodes with the run's policy" : 'episodes with random actions'}`);
      parts.push(await collectEpisodes(env, geometry, { seeds: seeds(episodes, offset), actor, encoders, episodeOffset: offset }));
      counts.push({ source, episodes });
      offset += episodes;
    }
    const { heldOut, sources: sourceOf } = heldOutEpisodes(counts, options.heldOutFraction);
    const report = scoreProbe(concatEpisodes(parts), ['trained', 'initial'], heldOut, sourceOf);
    const { log: _log, backend: _backend, ...recorded } = options;
    return { runDir, checkpoint, env: config.env, aux: config.aux, envStep, options: recorded, ...report };
  } finally {
    trained.dispose();
    initial.dispose();
    await env.close();
  }
}

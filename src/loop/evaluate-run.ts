import { join } from 'node:path';
import type { AgentState, CurlSacAgent } from '../../agents/index.js';
import type { Config } from '../config/schema.js';
import { createAgent } from '../agent.js';
import { GifFileWriter } from '../../envs/image.js';
import { makeEnv } from '../../envs/registry.js';
import { spaceSize } from '../../envs/types.js';
import { initBackend } from '../backend.js';
import { backendNames, type BackendName } from '../core/backend-names.js';
import { ConfigError } from '../core/errors.js';
import { readRunConfig } from '../run/run-dir.js';
import { DamagedFileError } from '../run/checked-file.js';
import { checkpointCandidates, checkpointFiles } from './checkpoint.js';
import { evaluatePolicy } from './evaluate.js';
import { readAgentCheckpoint, runEnvOptions } from './trainer.js';

export interface RunEvaluation {
  runDir: string;
  checkpoint: string;
  env: string;
  episodes: number;
  mean: number;
  std: number;
  returns: number[];
  video?: string;
}

/** An fp32 agent of the run's shape at its initial weights: acting runs on tfjs whatever the trunk's precision, so it needs neither bf16 nor the engine that trained. */
export function runAgent(config: Config, actionDim: number, seed = config.seed): CurlSacAgent {
  return createAgent({ ...config, precision: 'fp32' }, { obsShape: [config.cropSize, config.cropSize, 3 * config.frameStack], actionDim }, seed);
}

/**
 * Sets `agent` to the newest checkpoint whose agent file is intact and fits
 * the run's agent, and returns that checkpoint; a damaged one is reported,
 * never used.
 */
export function loadNewestAgent(runDir: string, candidates: readonly string[], agent: CurlSacAgent, say: (line: string) => void): string {
  for (const candidate of candidates) {
    let agentState: AgentState;
    try {
      agentState = readAgentCheckpoint(join(candidate, checkpointFiles.agent), agent);
    } catch (error) {
      if (!(error instanceof DamagedFileError)) throw error;
      say(`curl-rl: skipping ${candidate}: ${error.message}`);
      continue;
    }
    agent.setState(agentState);
    return candidate;
  }
  throw new DamagedFileError(runDir, "every checkpoint's agent.msgpack is damaged; nothing to load");
}

/**
 * Loads the last checkpoint of a run and evaluates its deterministic policy on
 * fresh episodes. The video's file is opened first, so a path that cannot be
 * written fails before anything is loaded or run; its frames (the first
 * episode's) are written as they come.
 */
export async function evaluateRun(
  runDir: string,
  options: { episodes: number; seed: number; video?: string; backend?: string; log?: (line: string) => void },
): Promise<RunEvaluation> {
  const say = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { config } = readRunConfig(runDir);
  const candidates = checkpointCandidates(runDir);
  if (candidates.length === 0) throw new ConfigError(`${runDir} has no checkpoint yet to evaluate.`);
  const backend = options.backend ?? config.backend;
  if (!(backendNames as readonly string[]).includes(backend)) throw new ConfigError(`--backend must be one of ${backendNames.join(', ')}, got ${JSON.stringify(backend)}`);
  let video: GifFileWriter | undefined;
  if (options.video) {
    try {
      video = await GifFileWriter.open(options.video, config.imageSize, config.imageSize, 25);
    } catch (error) {
      throw new ConfigError(`--video ${JSON.stringify(options.video)} cannot be written: ${(error as Error).message}`);
    }
  }
  try {
    await initBackend(backend as BackendName);
    const env = await makeEnv(config.env, runEnvOptions(config, options.seed));
    const space = env.actionSpace;
    const actionDim = space.kind === 'box' ? spaceSize(space) : 0;
    // acting runs on tfjs whatever the trunk's precision, so an evaluation needs neither bf16 nor the engine that trained
    const agent = runAgent(config, actionDim);
    try {
      const checkpoint = loadNewestAgent(runDir, candidates, agent, say);
      const seeds = Array.from({ length: options.episodes }, (_, i) => options.seed + i);
      const result = await evaluatePolicy(env, agent, config, seeds, video ? (frame, episode) => {
        if (episode === 0) video.add(frame);
      } : undefined);
      video?.close();
      return { runDir, checkpoint, env: config.env, episodes: options.episodes, ...result, ...(options.video ? { video: options.video } : {}) };
    } finally {
      agent.dispose();
      await env.close();
    }
  } finally {
    video?.abort();
  }
}

import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { parseDecimalInteger } from '../config-flags.js';

export function register(program: Command): void {
  program
    .command('eval')
    .description("evaluate a run's last checkpoint with the deterministic policy; prints one JSON object")
    .argument('<runDir>', 'run directory')
    .option('--episodes <n>', 'episodes to run', '10')
    .option('--seed <n>', 'seed of the first evaluation episode', '0')
    .option('--video <file.gif>', 'write the frames the agent saw as an animated GIF')
    .option('--backend <name>', 'compute backend (default: the one in the run config)')
    .action(async (runDir: string, opts: { episodes: string; seed: string; video?: string; backend?: string }) => {
      const episodes = parseDecimalInteger('--episodes', opts.episodes, 'an integer >= 1');
      const seed = parseDecimalInteger('--seed', opts.seed, 'an integer >= 0');
      if (!Number.isInteger(episodes) || episodes < 1) throw new ConfigError(`--episodes must be a positive integer, got ${JSON.stringify(opts.episodes)}`);
      if (!Number.isInteger(seed) || seed < 0) throw new ConfigError(`--seed must be a non-negative integer, got ${JSON.stringify(opts.seed)}`);
      const { evaluateRun } = await import('../../loop/evaluate-run.js');
      const result = await evaluateRun(runDir, { episodes, seed, video: opts.video, backend: opts.backend });
      console.log(JSON.stringify(result));
    });
}

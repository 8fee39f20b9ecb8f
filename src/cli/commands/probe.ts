import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { parseCount } from '../config-flags.js';

/** Episodes are held in memory one at a time, but their features and states all are: bound them well inside a run's size. */
const MAX_EPISODES = 10_000;

function formatR2(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(3);
}

export function register(program: Command): void {
  program
    .command('probe')
    .description(
      "how much of the true physical state a run's frozen encoder holds: a ridge regression from its features to the MuJoCo state (joint positions, hinge angles as cos/sin, velocities), R^2 on held-out episodes, beside the same probe of its encoder at initialisation",
    )
    .argument('<runDir>', 'run directory (its newest intact checkpoint is probed)')
    .option('--episodes <n>', "episodes with the run's deterministic policy", '10')
    .option('--random-episodes <n>', 'episodes with uniform random actions', '10')
    .option('--seed <n>', 'seed of the first probe episode (episode i gets seed + i)', '1000000')
    .option('--held-out <fraction>', "fraction of each source's episodes (the last ones) the probe is scored on", '0.3')
    .option('--backend <name>', 'compute backend (default: the one in the run config)')
    .option('--out <file.json>', 'also write the result as JSON to this file')
    .option('--json', 'print one JSON object instead of the table')
    .action(async (runDir: string, opts: { episodes: string; randomEpisodes: string; seed: string; heldOut: string; backend?: string; out?: string; json?: boolean }) => {
      const policyEpisodes = parseCount('--episodes', opts.episodes, { min: 0, max: MAX_EPISODES });
      const randomEpisodes = parseCount('--random-episodes', opts.randomEpisodes, { min: 0, max: MAX_EPISODES });
      const seed = parseCount('--seed', opts.seed, { min: 0, max: 2 ** 31 - 1 - 2 * MAX_EPISODES });
      const heldOutFraction = Number(opts.heldOut);
      if (!/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(opts.heldOut) || !(heldOutFraction > 0 && heldOutFraction < 1)) {
        throw new ConfigError(`--held-out ${JSON.stringify(opts.heldOut)} is invalid; expected a fraction strictly between 0 and 1, e.g. 0.3`);
      }
      const { probeRun } = await import('../../../experiments/probe/probe.js');
      const result = await probeRun(runDir, { policyEpisodes, randomEpisodes, seed, heldOutFraction, ...(opts.backend !== undefined ? { backend: opts.backend } : {}) });
      if (opts.out !== undefined) writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
      if (opts.json) {
        console.log(JSON.stringify(result));
        return;
      }
      const { trained, initial } = result.scores as Record<'trained' | 'initial', (typeof result.scores)[string]>;
      console.log(`probe of ${result.runDir} (${result.env}, --aux ${result.aux}), ${result.checkpoint}`);
      console.log(`${result.episodes.train} episodes (${result.samples.train} steps) to fit, ${result.episodes.heldOut} (${result.samples.heldOut} steps) held out; held-out R^2:`);
      console.log(`${'state'.padEnd(24)} ${'trained'.padStart(8)} ${'initial'.padStart(8)}`);
      for (const name of result.stateNames) console.log(`${name.padEnd(24)} ${formatR2(trained!.r2[name]).padStart(8)} ${formatR2(initial!.r2[name]).padStart(8)}`);
      console.log(`${'mean'.padEnd(24)} ${formatR2(trained!.meanR2).padStart(8)} ${formatR2(initial!.meanR2).padStart(8)}`);
      for (const source of Object.keys(trained!.bySource)) {
        console.log(`${`mean, ${source} episodes`.padEnd(24)} ${formatR2(trained!.bySource[source]).padStart(8)} ${formatR2(initial!.bySource[source]).padStart(8)}`);
      }
    });
}

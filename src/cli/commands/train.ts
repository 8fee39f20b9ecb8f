import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { resolveConfig, validateConfig } from '../../config/resolve.js';
import type { Config } from '../../config/schema.js';
import { ConfigError } from '../../core/errors.js';
import { readMetrics } from '../../run/metrics.js';
import { readRunConfig } from '../../run/run-dir.js';
import { startSummary } from '../eval-chart.js';
import { addConfigOptions, configFlags } from '../config-flags.js';

type Opts = Record<string, unknown> & { preset?: string; runDir?: string; resume?: string; progress?: string };

const progressModes = ['auto', 'tty', 'plain', 'none'] as const;

async function runTrain(opts: Opts, defaults: { preset?: string; showChart?: boolean } = {}): Promise<void> {
  // Loaded on demand: the loop pulls in tfjs, MuJoCo and the agent, which `--help` does not need.
  const { train } = await import('../../loop/train.js');
  const flags = configFlags(opts);
  const progress = (opts.progress ?? 'auto') as (typeof progressModes)[number];
  if (!progressModes.includes(progress)) throw new ConfigError(`--progress must be one of ${progressModes.join(', ')}, got ${JSON.stringify(opts.progress)}`);
  let outcome;
  if (opts.resume) {
    if (opts.preset) throw new ConfigError('--preset cannot be combined with --resume: a resumed run keeps its stored config.');
    // Validate the overrides as a whole config so their values get the usual checks.
    const stored = readRunConfig(opts.resume).config;
    const checked = validateConfig({ ...stored, ...flags });
    const overrides = Object.fromEntries(Object.keys(flags).map((k) => [k, checked[k as keyof Config]])) as Partial<Config>;
    // --run-dir goes along so that train() refuses it with the reason rather than it being dropped here.
    outcome = await train({ resume: opts.resume, resumeOverrides: overrides, signals: true, progress, ...(opts.runDir !== undefined ? { runDir: opts.runDir } : {}) });
  } else {
    const { config } = resolveConfig({ flags, preset: opts.preset ?? defaults.preset });
    outcome = await train({ config, runDir: opts.runDir, signals: true, progress });
  }
  process.exitCode = outcome.exitCode;
  if (defaults.showChart && outcome.state === 'finished') {
    const evals = readMetrics(join(outcome.runDir, 'metrics.jsonl')).filter((r) => r.type === 'eval');
    console.log(startSummary(evals, dirname(outcome.runDir)));
  }
}

export function register(program: Command): void {
  addConfigOptions(
    program
      .command('train')
      .description('train an agent (CURL with --aux curl, pixel SAC with --aux none, other objectives: see --aux); Ctrl-C stops with a checkpoint')
      .option('--preset <name>', 'preset in experiments/presets/ or a JSON file (applied after the task preset, before flags)')
      .option('--run-dir <dir>', 'run directory (default <runs-dir>/<env>-<aux>-s<seed>-<time>)')
      .option('--resume <dir>', 'continue the run in <dir> from its last checkpoint')
      .option('--progress <mode>', `console progress: ${progressModes.join('|')}`, 'auto'),
  ).action(async (opts: Opts) => runTrain(opts));

  addConfigOptions(
    program
      .command('start')
      .description('a short CURL run on a built-in task (the "start" preset) that ends with a chart of its evaluations: 1-2 minutes on a 2-core CPU with the native conv engine')
      .option('--preset <name>', 'preset to use instead of "start"')
      .option('--run-dir <dir>', 'run directory')
      .option('--progress <mode>', `console progress: ${progressModes.join('|')}`, 'auto'),
  ).action(async (opts: Opts) => runTrain(opts, { preset: 'start', showChart: true }));
}

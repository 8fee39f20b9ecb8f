import type { Command } from 'commander';
import { resolveConfig } from '../../config/resolve.js';
import { addConfigOptions, configFlags } from '../config-flags.js';

export function register(program: Command): void {
  addConfigOptions(
    program
      .command('config')
      .description('print the resolved config: defaults < task preset < --preset < flags')
      .option('--preset <name>', 'preset name in experiments/presets/ or a path to a JSON file')
      .option('--json', 'print one JSON object'),
  ).action((opts: Record<string, unknown>) => {
    const { config, sources } = resolveConfig({ flags: configFlags(opts), preset: opts.preset as string | undefined });
    if (opts.json) console.log(JSON.stringify(config));
    else {
      console.log(`# from: ${sources.join(' < ')}`);
      for (const [key, value] of Object.entries(config)) console.log(`${key.padEnd(24)} ${JSON.stringify(value)}`);
    }
  });
}

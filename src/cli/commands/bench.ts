import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { ConfigError } from '../../errors.js';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'experiments', 'bench');

export function availableBenchmarks(): string[] {
  return existsSync(benchDir)
    ? readdirSync(benchDir).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort()
    : [];
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('run a benchmark from experiments/bench/ (prints one JSON object per measurement)')
    .argument('<name>', 'benchmark name')
    .argument('[flags...]', 'flags passed to the benchmark')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (name: string, flags: string[]) => {
      const names = availableBenchmarks();
      if (!names.includes(name)) {
        throw new ConfigError(`Unknown benchmark '${name}'. Available: ${names.join(', ') || '(none)'}.`);
      }
      const module = (await import(pathToFileURL(join(benchDir, `${name}.ts`)).href)) as { main(argv: string[]): Promise<void> };
      await module.main(flags);
    });
}

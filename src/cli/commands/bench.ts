import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'experiments', 'bench');

export function availableBenchmarks(): string[] {
  return existsSync(benchDir)
    ? readdirSync(benchDir).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort()
    : [];
}

/**
 * A benchmark's help is the file comment that opens its file (what it
 * measures and its flags), so the text users read cannot drift from a second
 * copy.
 */
export function benchmarkHelp(name: string): string {
  const source = readFileSync(join(benchDir, `${name}.ts`), 'utf8');
  const doc = /^\/\*\*?([\s\S]*?)\*\//.exec(source)?.[1] ?? '';
  const text = doc.split('\n').map((line) => line.replace(/^\s*\* ?/, '')).join('\n').trim();
  return `Usage: curl-rl bench ${name} [flags]\n\n${text || '(no description)'}\n`;
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
      if (flags.includes('--help') || flags.includes('-h')) {
        process.stdout.write(benchmarkHelp(name));
        return;
      }
      const module = (await import(pathToFileURL(join(benchDir, `${name}.ts`)).href)) as { main(argv: string[]): Promise<void> };
      try {
        await module.main(flags);
      } catch (error) {
        // flag mistakes: the benchmark's own checks (ConfigError) and node:util parseArgs's (ERR_PARSE_ARGS_*) exit 2 with a pointer to its help
        const code = (error as NodeJS.ErrnoException).code;
        if (error instanceof ConfigError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_'))) {
          throw new ConfigError(`${(error as Error).message} (see \`curl-rl bench ${name} --help\`)`);
        }
        throw error;
      }
    });
}

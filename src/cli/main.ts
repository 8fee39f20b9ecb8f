import { Command, CommanderError } from 'commander';
import { CurlRlError } from '../core/errors.js';
import { packageVersion } from '../version.js';
import * as bench from './commands/bench.js';
import * as config from './commands/config.js';
import * as envs from './commands/envs.js';
import * as evaluate from './commands/eval.js';
import * as exportResults from './commands/export.js';
import * as info from './commands/info.js';
import * as probe from './commands/probe.js';
import * as render from './commands/render.js';
import * as report from './commands/report.js';
import * as sweep from './commands/sweep.js';
import * as train from './commands/train.js';

/** Runs a command line of this CLI in this process and returns its exit code. */
type RunCli = (argv: string[]) => Promise<number>;

// A command that starts another command (`sweep task` starts `train`) is
// handed the CLI's entry point rather than importing main.ts, which imports
// every command: no command module imports back up into main.
const commands: Array<{ register(program: Command, runCli: RunCli): void }> = [train, evaluate, envs, render, sweep, report, exportResults, probe, config, info, bench];

export function buildProgram(): Command {
  const program = new Command('curl-rl')
    .description('CURL and pixel SAC on TensorFlow.js, with built-in MuJoCo pixel control tasks')
    .version(packageVersion)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const command of commands) command.register(program, main);
  for (const sub of program.commands) sub.exitOverride();
  return program;
}

/** Runs the CLI and returns the process exit code (2 for usage and config errors). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    // Commands that finish with a status (train: 130 after Ctrl-C) set process.exitCode.
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end through here too, with exit code 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CurlRlError) {
      console.error(`curl-rl: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof Error && 'syscall' in error && typeof (error as NodeJS.ErrnoException).code === 'string') {
      // A file or process the system refused (read-only, full, missing): the message says which; a stack would not help.
      console.error(`curl-rl: ${error.message}`);
      return 1;
    }
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    return 1;
  }
}

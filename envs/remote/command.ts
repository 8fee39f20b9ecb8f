import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EnvError } from '../errors.js';

/** The remote command line could not be parsed (a usage error, not a remote failure). */
export class RemoteCommandError extends EnvError {}

/**
 * Splits a shell-style command line into argv without running a shell: single
 * quotes are literal, double quotes allow \" \\ \$ \` escapes, a backslash
 * outside quotes escapes the next character. No variables, globs or
 * redirections are expanded, so a command string can never inject shell code.
 */
export function splitCommand(command: string): string[] {
  const args: string[] = [];
  let current = '';
  let inWord = false;
  let i = 0;
  while (i < command.length) {
    const c = command[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) args.push(current);
      current = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) throw new RemoteCommandError(`unterminated single quote in remote command: ${command}`);
      current += command.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      inWord = true;
      i++;
      for (;;) {
        if (i >= command.length) throw new RemoteCommandError(`unterminated double quote in remote command: ${command}`);
        const d = command[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\' && i + 1 < command.length && '"\\$`'.includes(command[i + 1]!)) {
          current += command[i + 1]!;
          i += 2;
        } else {
          current += d;
          i++;
        }
      }
    } else if (c === '\\') {
      if (i + 1 >= command.length) throw new RemoteCommandError(`remote command ends with a lone backslash: ${command}`);
      current += command[i + 1]!;
      inWord = true;
      i += 2;
    } else {
      current += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) args.push(current);
  if (args.length === 0) throw new RemoteCommandError('the remote command is empty; expected e.g. "python3 envs/remote/bridge.py --env mymod:make_env"');
  return args;
}

/** Quotes one argument so that `splitCommand` (and a POSIX shell) gives it back unchanged. */
export function quoteArg(arg: string): string {
  return /^[A-Za-z0-9_\-.,:/=@+%]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function joinCommand(argv: readonly string[]): string {
  return argv.map(quoteArg).join(' ');
}

/** Absolute path of the Python bridge shipped with the package. */
export const BRIDGE_PATH = fileURLToPath(new URL('./bridge.py', import.meta.url));
/** Absolute path of the Node test server. */
export const TEST_SERVER_PATH = fileURLToPath(new URL('./test-server.ts', import.meta.url));

/** The command line that runs the Node test server (through tsx) with the given flags. */
export function testServerCommand(flags: readonly string[] = []): string {
  // Resolved from this file, not the cwd, so the command works from any directory
  // (import.meta.resolve is not available under every test runner).
  const tsxDir = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(join(tsxDir, 'dist', 'loader.mjs')).href;
  return joinCommand([process.execPath, '--import', tsx, TEST_SERVER_PATH, ...flags]);
}

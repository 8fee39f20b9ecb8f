// The base classes of the errors a user can act on, each kind with its exit
// code: the errors of envs/ and replay/ extend them, and the CLI reports any
// of them as a message and that code, whichever folder threw it.
//
// src/core/ is the layer envs/, replay/, agents/ and src/ share: it imports
// nothing of ours (test/layering.test.ts).

/**
 * Errors a user can act on. Each carries the process exit code the CLI uses,
 * so scripts (and the sweep runner) can tell a bad config from a crash.
 */
export class CurlRlError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A config value, flag or preset is wrong. Exit code 2, like a usage error. */
export class ConfigError extends CurlRlError {
  override readonly exitCode = 2;
}

/** The requested compute backend cannot run here; the message says how to install it. */
export class BackendUnavailableError extends CurlRlError {
  override readonly exitCode = 3;
}

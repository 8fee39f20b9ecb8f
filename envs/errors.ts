import { ConfigError, CurlRlError } from '../src/core/errors.js';

/** Something an environment was asked to do cannot be done. */
export class EnvError extends CurlRlError {}

/** An action has the wrong type, length, or a non-finite element. */
export class InvalidActionError extends EnvError {}

/** `makeEnv` was given an id that is not registered (a usage error, exit code 2). */
export class UnknownEnvError extends ConfigError {}

/** A MuJoCo model failed to load or lacks an element the task needs. */
export class MujocoModelError extends EnvError {}

/** `checkEnv` found one or more contract violations; `problems` lists every one. */
export class EnvCheckError extends EnvError {
  readonly problems: readonly string[];
  constructor(envId: string, problems: readonly string[]) {
    super(`env ${JSON.stringify(envId)} failed ${problems.length} check(s):\n  - ${problems.join('\n  - ')}`);
    this.problems = [...problems];
  }
}

import { CurlRlError } from '../src/core/errors.js';

/** The replay buffer was used in a way its contract forbids (bad shapes, wrong call order, empty sample). */
export class ReplayError extends CurlRlError {}

/**
 * A replay file could not be written or read back. The buffer that tried to
 * load it is left exactly as it was, so a caller may fall back to an older
 * checkpoint.
 */
export class ReplayFileError extends ReplayError {
  readonly file: string;
  readonly problem: string;
  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`replay file ${file}: ${problem}`, options);
    this.file = file;
    this.problem = problem;
  }
}

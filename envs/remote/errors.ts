import { EnvError } from '../errors.js';

/**
 * Every failure of a remote env process. The training loop recognises these by
 * name (`Remote*`) and may restart the env; `stderrTail` carries the last lines
 * the process wrote to stderr, which is usually where the real cause is.
 */
export class RemoteEnvError extends EnvError {
  readonly stderrTail: string;
  constructor(message: string, stderrTail = '', options?: { cause?: unknown }) {
    super(stderrTail.trim() ? `${message}\n--- last lines of the remote process's stderr ---\n${stderrTail.trimEnd()}` : message, options);
    this.stderrTail = stderrTail;
  }
}

/** The process ended (exited, crashed or was killed) while we needed it. */
export class RemoteProcessExitedError extends RemoteEnvError {
  /** The child's exit status (named so as not to clash with the CLI's `exitCode`). */
  readonly processExitCode: number | undefined;
  readonly signal: number | undefined;
  constructor(message: string, stderrTail: string, exit: { exitCode?: number; signal?: number }) {
    super(message, stderrTail);
    this.processExitCode = exit.exitCode;
    this.signal = exit.signal;
  }
}

/** No answer within the timeout; the process has been killed. */
export class RemoteTimeoutError extends RemoteEnvError {
  readonly timeoutMs: number;
  constructor(message: string, stderrTail: string, timeoutMs: number) {
    super(message, stderrTail);
    this.timeoutMs = timeoutMs;
  }
}

/** The process wrote something that is not our protocol (garbage, a wrong version, a malformed or unexpected message). */
export class RemoteProtocolError extends RemoteEnvError {}

/** The far side caught an exception while serving a request and reported it with an `error` message. */
export class RemoteEnvRaisedError extends RemoteEnvError {
  /** The exception's type name on the far side, e.g. `ValueError`. */
  readonly remoteType: string;
  /** The far side's traceback / stack, as text. */
  readonly traceback: string;
  /** Which request failed: `reset`, `step`, ... */
  readonly request: string;
  constructor(request: string, remoteType: string, remoteMessage: string, traceback: string, stderrTail: string) {
    super(
      `remote env raised ${remoteType} during '${request}': ${remoteMessage}` + (traceback.trim() ? `\n--- remote traceback ---\n${traceback.trimEnd()}` : ''),
      stderrTail,
    );
    this.remoteType = remoteType;
    this.traceback = traceback;
    this.request = request;
  }
}

import { constants } from 'node:os';
import { Subject, take, type Observable } from 'rxjs';

/**
 * The signals that stop a run with a checkpoint: Ctrl-C, a polite kill (a
 * sweep, Slurm's time-limit warning) and a hang-up (the terminal closed, an
 * ssh connection dropped), whose default action would end the process at once
 * and lose every step since the last periodic checkpoint.
 */
export const stopSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof stopSignals)[number];

/** The exit code of a run stopped by `signal`: 128 + its number, as a shell reports a process the signal ended (130, 143, 129). */
export function signalExitCode(signal: StopSignal): number {
  return 128 + constants.signals[signal];
}

/** The stop signal an exit code stands for (the inverse of signalExitCode), if any. */
export function signalOfExitCode(code: number | null): StopSignal | undefined {
  return stopSignals.find((signal) => signalExitCode(signal) === code);
}

export type StopReason =
  | { kind: 'finished' }
  | { kind: 'signal'; signal: StopSignal }
  | { kind: 'error'; error: Error };

/**
 * shutdown$ merges the stop signals and stops requested by the loop itself
 * (step limit reached, fatal error). Signals only request a stop: the step in
 * flight completes and a final checkpoint is written. Further signals while
 * that happens are reported and ignored, so an impatient second Ctrl-C cannot
 * tear a checkpoint.
 */
export class Shutdown {
  private readonly requests = new Subject<StopReason>();
  readonly shutdown$: Observable<StopReason>;
  reason: StopReason | null = null;
  private readonly detach: Array<() => void> = [];

  constructor(options: { signals?: boolean; log?: (line: string) => void } = {}) {
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    if (options.signals !== false) {
      for (const signal of stopSignals) {
        const handler = (): void => {
          if (this.reason) log(`curl-rl: ${signal} received again; finishing the current step and checkpoint, please wait.`);
          else {
            log(`curl-rl: ${signal} received; stopping after the current step and writing a checkpoint.`);
            this.request({ kind: 'signal', signal });
          }
        };
        process.on(signal, handler);
        this.detach.push(() => process.off(signal, handler));
      }
    }
    this.shutdown$ = this.requests.pipe(take(1));
  }

  request(reason: StopReason): void {
    if (this.reason) return;
    this.reason = reason;
    this.requests.next(reason);
  }

  get requested(): boolean {
    return this.reason !== null;
  }

  dispose(): void {
    for (const off of this.detach) off();
    this.requests.complete();
  }
}

import { Subject, take, type Observable } from 'rxjs';

export type StopReason =
  | { kind: 'finished' }
  | { kind: 'signal'; signal: 'SIGINT' | 'SIGTERM' }
  | { kind: 'error'; error: Error };

/**
 * shutdown$ merges SIGINT, SIGTERM and stops requested by the loop itself
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
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
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

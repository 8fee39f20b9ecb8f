// Wall-clock milliseconds of each named stage of an update. The wasm and cpu
// backends run ops eagerly, so a stage's time is the time of its own ops.
export class StageTimer {
  readonly ms: Record<string, number> = {};
  private last = performance.now();

  /** Ends the stage that started at the previous mark (or at construction). */
  mark(name: string): void {
    const now = performance.now();
    this.ms[name] = now - this.last;
    this.last = now;
  }
}

import { EnvError } from '../errors.js';
import { isSnapshotCapable, type Action, type Env, type EnvSnapshot, type Observation, type ResetOptions, type ResetResult, type SnapshotCapable, type Space, type StepResult } from '../types.js';

/**
 * Base of every wrapper: forwards everything to the inner env, and nests the
 * inner env's snapshot under `inner` so a whole wrapper stack can be saved and
 * restored when every layer supports it.
 */
export abstract class Wrapper<O = Observation, A = Action, IO = O, IA = A> implements Env<O, A>, SnapshotCapable {
  constructor(readonly env: Env<IO, IA>) {}

  get id(): string {
    return this.env.id;
  }
  get observationSpace(): Space {
    return this.env.observationSpace;
  }
  get actionSpace(): Space {
    return this.env.actionSpace;
  }

  abstract reset(options?: ResetOptions): Promise<ResetResult<O>>;
  abstract step(action: A): Promise<StepResult<O>>;

  close(): void | Promise<void> {
    return this.env.close();
  }

  /**
   * Restarts the innermost env (a remote process) after a failure. Every layer
   * starts afresh at the reset() that must follow, so no wrapper state survives.
   */
  async restart(): Promise<void> {
    const inner = this.env as Env<IO, IA> & { restart?: () => Promise<void> };
    if (typeof inner.restart !== 'function') throw new EnvError(`${this.id}: ${this.env.constructor.name} cannot be restarted`);
    await inner.restart();
  }

  /** This layer's own state (counters, stacked frames); override when there is any. */
  protected ownState(): EnvSnapshot {
    return {};
  }
  protected restoreOwnState(_state: EnvSnapshot): void {}

  getSnapshot(): EnvSnapshot {
    if (!isSnapshotCapable(this.env)) throw new EnvError(`${this.id}: ${this.env.constructor.name} cannot save snapshots`);
    return { wrapper: this.constructor.name, own: this.ownState(), inner: this.env.getSnapshot() };
  }

  restoreSnapshot(snapshot: EnvSnapshot): void {
    if (!isSnapshotCapable(this.env)) throw new EnvError(`${this.id}: ${this.env.constructor.name} cannot restore snapshots`);
    if (snapshot['wrapper'] !== this.constructor.name) {
      throw new EnvError(`${this.id}: snapshot was taken from ${String(snapshot['wrapper'])}, cannot restore it into ${this.constructor.name}`);
    }
    this.env.restoreSnapshot(snapshot['inner'] as EnvSnapshot);
    this.restoreOwnState(snapshot['own'] as EnvSnapshot);
  }
}
